//! Which histories the register data checks ([`invented_value`](crate::invented_value),
//! [`ap_lost_write`](crate::ap_lost_write)) judge: read/write/cas registers with unique write
//! values, where a read returns one value that some write put there.
use crate::ops::Op;

/// Operation names of a register history (`put`/`get` are accepted aliases, as in [`Op`]).
const REGISTER_OPS: [&str; 5] = ["read", "get", "write", "put", "cas"];

/// Whether `ops` form a register history the data checks can judge: at least one write and no
/// operation of another kind. Other workloads (list-append, transactions, custom operations)
/// read values that no single write produced (a list, a balance), so they are left to their own
/// checkers rather than misjudged; a history without any write says nothing about who wrote what.
pub fn is_register_history(ops: &[Op]) -> bool {
    ops.iter().all(|o| REGISTER_OPS.contains(&o.f.as_str()))
        && ops.iter().any(|o| o.written().is_some())
}
