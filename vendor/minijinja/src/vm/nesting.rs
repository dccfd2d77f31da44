//! Bounds how deeply the values that a template keeps in namespaces nest.
//!
//! A loop can only carry a value from one iteration to the next through a
//! namespace, so `{% set ns.x = [ns.x] %}` in a loop is how a template
//! builds a value nested a million levels deep.  Formatting, comparing or
//! dropping such a value recurses once per level and overflows the stack.
//! Every assignment to a namespace measures the depth of the value it stores
//! and fails past [`MAX_NESTING`].  Containers already measured are looked up
//! by identity, so an assignment costs the size of what is new in the value.
//! Namespaces can change after they were measured, so they (and containers
//! holding them) are measured again every time.
use std::collections::HashMap;

use crate::error::{Error, ErrorKind};
use crate::value::merge_object::MergeSeq;
use crate::value::namespace_object::Namespace;
use crate::value::{ObjectRepr, Value};
use crate::vm::fuel::{FuelTracker, ITEM_COST};

/// How deeply a value stored in a namespace may nest.
pub(crate) const MAX_NESTING: usize = 100;

/// Depths of the containers measured during one render.
#[derive(Default)]
pub(crate) struct NestingMemo {
    // By address; the value is kept so that the address is not reused for
    // another container while the memo lives.
    depths: HashMap<usize, (usize, Value)>,
}

struct Measured {
    depth: usize,
    holds_namespace: bool,
}

impl NestingMemo {
    /// Fails if `value` nests deeper than [`MAX_NESTING`].  Items visited
    /// are charged to `fuel`.
    pub fn check(&mut self, value: &Value, fuel: Option<&FuelTracker>) -> Result<(), Error> {
        self.measure(value, 0, fuel).map(|_| ())
    }

    fn measure(
        &mut self,
        value: &Value,
        level: usize,
        fuel: Option<&FuelTracker>,
    ) -> Result<Measured, Error> {
        let Some(obj) = value.as_object() else {
            return Ok(Measured {
                depth: 0,
                holds_namespace: false,
            });
        };
        if let Some(&(depth, _)) = self.depths.get(&obj.addr()) {
            if level + depth > MAX_NESTING {
                return Err(too_deep());
            }
            return Ok(Measured {
                depth,
                holds_namespace: false,
            });
        }
        if level >= MAX_NESTING {
            return Err(too_deep());
        }
        let mut deepest = 0;
        let mut holds_namespace = obj.downcast_ref::<Namespace>().is_some();
        let mut visit = |this: &mut Self, item: &Value| -> Result<(), Error> {
            if let Some(fuel) = fuel {
                ok!(fuel.consume(ITEM_COST));
            }
            let m = ok!(this.measure(item, level + 1, fuel));
            deepest = deepest.max(m.depth);
            holds_namespace |= m.holds_namespace;
            Ok(())
        };
        if let Some(merged) = obj.downcast_ref::<MergeSeq>() {
            // `a + b` of sequences lists the items of its parts: it is as
            // deep as its deepest part, and the parts are often measured.
            let mut deepest = 0;
            let mut holds_namespace = false;
            for part in merged.parts() {
                let m = ok!(self.measure(part, level, fuel));
                deepest = deepest.max(m.depth);
                holds_namespace |= m.holds_namespace;
            }
            if !holds_namespace {
                self.depths.insert(obj.addr(), (deepest, value.clone()));
            }
            return Ok(Measured {
                depth: deepest,
                holds_namespace,
            });
        }
        match obj.repr() {
            ObjectRepr::Map => {
                for (key, item) in obj.try_iter_pairs().into_iter().flatten() {
                    ok!(visit(self, &key));
                    ok!(visit(self, &item));
                }
            }
            // unsized iterables may be streams that iterating would consume
            ObjectRepr::Seq | ObjectRepr::Iterable if obj.enumerator_len().is_some() => {
                for item in obj.try_iter().into_iter().flatten() {
                    ok!(visit(self, &item));
                }
            }
            _ => {}
        }
        let depth = deepest + 1;
        if !holds_namespace {
            self.depths.insert(obj.addr(), (depth, value.clone()));
        }
        Ok(Measured {
            depth,
            holds_namespace,
        })
    }
}

fn too_deep() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("value assigned to a namespace nests more than {MAX_NESTING} levels deep"),
    )
}
