//! Bounds the values that a template keeps in variables and namespaces.
//!
//! A template grows a value by storing it again: `{% set x = [x] %}`
//! repeated, or `{% set ns.x = [ns.x] %}` in a loop (a loop carries values
//! between iterations only through namespaces).  That way it can nest a value
//! a million levels deep, whose formatting, comparison or drop recurses once
//! per level and overflows the stack, or share one list twice per level
//! (`x = [x, x]`) so that comparing or hashing it visits 2^60 items.  Every
//! store measures the value's depth and the number of items it stands for,
//! and fails past [`MAX_NESTING`] and [`MAX_ITEMS`].  Containers already
//! measured are looked up by identity, so a store costs the size of what is
//! new in the value.
//!
//! Namespaces are the only mutable values, so a value assigned to a namespace
//! may not hold a namespace: otherwise a namespace could come to contain
//! itself, or a chain of them could grow one link per loop iteration without
//! any store seeing more than one link.
use std::collections::HashMap;

use crate::error::{Error, ErrorKind};
use crate::value::merge_object::MergeSeq;
use crate::value::namespace_object::Namespace;
use crate::value::{iterable_sources, ObjectRepr, Value};
use crate::vm::fuel::{FuelTracker, ITEM_COST};

/// How deeply a stored value may nest.
pub(crate) const MAX_NESTING: usize = 100;

/// How many items a stored value may stand for, counting a list shared in
/// several places once per place.
pub(crate) const MAX_ITEMS: u64 = 1_000_000;

/// Depths of the containers measured during one render.
#[derive(Default)]
pub(crate) struct NestingMemo {
    // By address; the value is kept so that the address is not reused for
    // another container while the memo lives.
    measured: HashMap<usize, (Shape, Value)>,
}

#[derive(Clone, Copy, Default)]
struct Shape {
    depth: usize,
    items: u64,
    holds_namespace: bool,
}

impl NestingMemo {
    /// Fails if `value` nests deeper than [`MAX_NESTING`], stands for more
    /// than [`MAX_ITEMS`] items, or (when it goes into a namespace) holds a
    /// namespace.  Items visited are charged to `fuel`.
    pub fn check(
        &mut self,
        value: &Value,
        fuel: Option<&FuelTracker>,
        into_namespace: bool,
    ) -> Result<(), Error> {
        let shape = ok!(self.measure(value, 0, fuel));
        if into_namespace && shape.holds_namespace {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "a namespace cannot hold another namespace",
            ));
        }
        Ok(())
    }

    fn measure(
        &mut self,
        value: &Value,
        level: usize,
        fuel: Option<&FuelTracker>,
    ) -> Result<Shape, Error> {
        let Some(obj) = value.as_object() else {
            return Ok(Shape::default());
        };
        if let Some(&(shape, _)) = self.measured.get(&obj.addr()) {
            if level + shape.depth > MAX_NESTING {
                return Err(too_deep());
            }
            return Ok(shape);
        }
        if level >= MAX_NESTING {
            return Err(too_deep());
        }
        let mut shape = Shape {
            holds_namespace: obj.downcast_ref::<Namespace>().is_some(),
            ..Shape::default()
        };
        let mut add = |this: &mut Self, item: &Value, item_level: usize| -> Result<(), Error> {
            if let Some(fuel) = fuel {
                ok!(fuel.consume(ITEM_COST));
            }
            let inner = ok!(this.measure(item, item_level, fuel));
            shape.depth = shape.depth.max(inner.depth);
            shape.items = shape.items.saturating_add(inner.items);
            shape.holds_namespace |= inner.holds_namespace;
            if shape.items > MAX_ITEMS {
                return Err(too_many());
            }
            Ok(())
        };
        if let Some(merged) = obj.downcast_ref::<MergeSeq>() {
            // `a + b` of sequences lists the items of its parts: it is as
            // deep as its deepest part, and the parts are often measured.
            for part in merged.parts() {
                ok!(add(self, part, level));
            }
        } else if let (None, Some(sources)) = (obj.enumerator_len(), iterable_sources(obj)) {
            // a lazy iterable of unknown length (`chain` of other values,
            // `zip`, a slice of one): it holds the values it draws from, one
            // level down, and `ns.z = ns.z|chain(x)` in a loop nests them.
            for source in &sources {
                ok!(add(self, source, level + 1));
            }
            shape.depth += 1;
        } else {
            match obj.repr() {
                ObjectRepr::Map => {
                    for (key, item) in obj.try_iter_pairs().into_iter().flatten() {
                        ok!(add(self, &key, level + 1));
                        ok!(add(self, &item, level + 1));
                    }
                }
                // unsized iterables may be streams that iterating would consume
                ObjectRepr::Seq | ObjectRepr::Iterable if obj.enumerator_len().is_some() => {
                    for item in obj.try_iter().into_iter().flatten() {
                        ok!(add(self, &item, level + 1));
                    }
                }
                _ => {}
            }
            shape.depth += 1;
            shape.items = shape
                .items
                .saturating_add(obj.enumerator_len().unwrap_or(0) as u64);
            if shape.items > MAX_ITEMS {
                return Err(too_many());
            }
        }
        // a namespace can change after it was measured
        if !shape.holds_namespace {
            self.measured.insert(obj.addr(), (shape, value.clone()));
        }
        Ok(shape)
    }
}

fn too_deep() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("a stored value nests more than {MAX_NESTING} levels deep"),
    )
}

fn too_many() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("a stored value stands for more than {MAX_ITEMS} items"),
    )
}
