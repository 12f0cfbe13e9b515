//! The messages both atomic-commitment protocols exchange, whatever each calls them.
use faultline::Message;

/// Builds (and recognizes) the messages `twopc` and `threepc` have in common, so the shared
/// client, coordinator and participant helpers can send them.
pub trait CommitMsg: Message {
    /// Client → coordinator: commit this transaction.
    fn begin(txn: u64, keys: Vec<String>) -> Self;
    /// Coordinator → client.
    fn outcome(txn: u64, commit: bool) -> Self;
    /// The outcome a coordinator's answer to a client carries.
    fn as_outcome(&self) -> Option<(u64, bool)>;
    /// Coordinator → participant: lock these keys and vote (2PC `Prepare`, 3PC `CanCommit`).
    fn prepare(txn: u64, keys: Vec<String>, participants: Vec<usize>) -> Self;
    /// Participant → coordinator.
    fn vote(txn: u64, yes: bool) -> Self;
    fn decision(txn: u64, commit: bool) -> Self;
    /// Participant → coordinator: the decision is applied.
    fn ack(txn: u64) -> Self;
    /// Client → participant: what have you applied? (the final reads)
    fn inspect() -> Self;
    /// A participant's answer to [`CommitMsg::inspect`]: key → the committed transactions
    /// that wrote it.
    fn as_state(&self) -> Option<&Data>;
}

/// A participant's data: each key it owns → the committed transactions that wrote it.
pub type Data = std::collections::BTreeMap<String, std::collections::BTreeSet<u64>>;

/// Implements [`CommitMsg`] for a protocol's `Msg` enum, whose variants `Begin`, `Outcome`,
/// `Vote`, `Decision`, `Ack`, `Inspect` and `State` have the shared shape and whose prepare variant is named.
macro_rules! commit_msg {
    ($msg:ident, prepare: $prepare:ident) => {
        impl $crate::commit::CommitMsg for $msg {
            fn begin(txn: u64, keys: Vec<String>) -> Self {
                $msg::Begin { txn, keys }
            }
            fn outcome(txn: u64, commit: bool) -> Self {
                $msg::Outcome { txn, commit }
            }
            fn as_outcome(&self) -> Option<(u64, bool)> {
                match self {
                    $msg::Outcome { txn, commit } => Some((*txn, *commit)),
                    _ => None,
                }
            }
            fn prepare(txn: u64, keys: Vec<String>, participants: Vec<usize>) -> Self {
                $msg::$prepare {
                    txn,
                    keys,
                    participants,
                }
            }
            fn vote(txn: u64, yes: bool) -> Self {
                $msg::Vote { txn, yes }
            }
            fn decision(txn: u64, commit: bool) -> Self {
                $msg::Decision { txn, commit }
            }
            fn ack(txn: u64) -> Self {
                $msg::Ack { txn }
            }
            fn inspect() -> Self {
                $msg::Inspect
            }
            fn as_state(&self) -> Option<&$crate::commit::Data> {
                match self {
                    $msg::State { data } => Some(data),
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use commit_msg;
