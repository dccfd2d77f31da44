// workgroup_reduce_subgroups: workgroup_reduce.wgsl's functions over subgroup operations (GPU
// tuning `subgroup_reduce`, natively on devices with subgroups; wgpu enables the operations with
// the device feature, without an `enable` directive). Each subgroup reduces in registers (`subgroupAdd`, `subgroupMax`), its
// first invocation stores the result in `wg_red[subgroup_id]`, and after one barrier every
// invocation combines the `num_subgroups` results in subgroup order: two barriers in all, and a
// fixed summation order for a given subgroup size.
struct GroupIds {
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) sgs: u32,
}
var<workgroup> wg_red: array<f32, 256>; // the first `num_subgroups` (at most 256 / 4) are used

fn workgroup_sum(ids: GroupIds, x: f32) -> f32 {
    let part = subgroupAdd(x);
    if (ids.lane == 0u) { wg_red[ids.sg] = part; }
    workgroupBarrier();
    var r = wg_red[0];
    for (var i = 1u; i < ids.sgs; i++) { r += wg_red[i]; }
    workgroupBarrier(); // everyone has read wg_red before it is reused
    return r;
}

fn workgroup_max(ids: GroupIds, x: f32) -> f32 {
    let part = subgroupMax(x);
    if (ids.lane == 0u) { wg_red[ids.sg] = part; }
    workgroupBarrier();
    var r = wg_red[0];
    for (var i = 1u; i < ids.sgs; i++) { r = max(r, wg_red[i]); }
    workgroupBarrier();
    return r;
}
