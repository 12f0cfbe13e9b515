//! `linearizability` as a run checker: the client history (final reads included) against its
//! spec (a list per key for append histories, else a cas-register per key). Defined beside the
//! other run checkers in [`crate::checker`]; this path is kept for users who import it from here.
pub use crate::checker::Linearizable;
