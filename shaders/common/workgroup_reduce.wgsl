// workgroup_reduce: the sum and the max of one f32 per invocation over a workgroup of 256,
// returned to every invocation; call in uniform control flow. A tree in workgroup memory: eight
// halvings, a barrier after each, and one more before `wg_red` can be reused. Kernels that use it
// take their invocation index as `ids: GroupIds` (`ids.lid`). Natively, GPU tuning
// `subgroup_reduce` swaps this file for workgroup_reduce_subgroups.wgsl (the same functions over
// subgroup operations).
struct GroupIds {
    @builtin(local_invocation_index) lid: u32,
}
var<workgroup> wg_red: array<f32, 256>;

fn workgroup_sum(ids: GroupIds, x: f32) -> f32 {
    wg_red[ids.lid] = x;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (ids.lid < s) { wg_red[ids.lid] += wg_red[ids.lid + s]; }
        workgroupBarrier();
    }
    let r = wg_red[0];
    workgroupBarrier(); // everyone has read wg_red[0] before it is reused
    return r;
}

fn workgroup_max(ids: GroupIds, x: f32) -> f32 {
    wg_red[ids.lid] = x;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (ids.lid < s) { wg_red[ids.lid] = max(wg_red[ids.lid], wg_red[ids.lid + s]); }
        workgroupBarrier();
    }
    let r = wg_red[0];
    workgroupBarrier();
    return r;
}
