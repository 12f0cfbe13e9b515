//! `append`: Jepsen's list-append on a single key per operation. Each key holds a list; `append`
//! adds one element at its end, `read` returns the whole list. Because a read shows every element
//! in order, it names exactly which appends took effect before it and in which order, so the
//! search has little to guess (Elle's insight, Kingsbury & Alvaro, VLDB 2020).
use super::Spec;
use std::sync::Arc;

/// One element of a list, compared as text (canonical JSON, or a string's content).
pub type Elem = Arc<str>;

/// An `append` operation's input: the key, and what it does there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppendInput {
    pub key: Arc<str>,
    pub op: AppendOp,
}

/// What a list-append operation does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppendOp {
    /// Reads the key's whole list.
    Read,
    /// Adds one element at the end of the key's list.
    Append(Elem),
}

/// What a completed list-append operation observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppendOutput {
    /// A read returned this list (empty: nothing appended yet).
    Read(Arc<[Elem]>),
    /// An append completed.
    Ok,
}

/// One key's list, as a persistent linked list from its last element back, so that an append
/// is O(1) and shares everything before it with the state it came from. The hash and length are
/// kept up to date so that interning a state costs O(1); equality still compares the elements.
#[derive(Clone, Debug, Default)]
pub struct ListState {
    last: Option<Arc<Cell>>,
    len: usize,
    hash: u64,
}

#[derive(Debug)]
struct Cell {
    elem: Elem,
    prev: Option<Arc<Cell>>,
}

const B: u64 = 0x100_0000_01b3;

fn elem_hash(e: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in e.as_bytes() {
        h = (h ^ b as u64).wrapping_mul(B);
    }
    h
}

impl ListState {
    /// The list with `e` added at its end.
    pub fn appended(&self, e: &Elem) -> ListState {
        ListState {
            last: Some(Arc::new(Cell {
                elem: e.clone(),
                prev: self.last.clone(),
            })),
            len: self.len + 1,
            hash: self
                .hash
                .wrapping_mul(B)
                .wrapping_add(elem_hash(e))
                .rotate_left(5),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements from the last back to the first.
    fn rev_iter(&self) -> impl Iterator<Item = &Elem> {
        let mut cur = self.last.as_deref();
        std::iter::from_fn(move || {
            let c = cur?;
            cur = c.prev.as_deref();
            Some(&c.elem)
        })
    }

    /// The elements in order.
    pub fn to_vec(&self) -> Vec<Elem> {
        let mut v: Vec<Elem> = self.rev_iter().cloned().collect();
        v.reverse();
        v
    }

    /// True when this list is a prefix of `list` (equal included). Compares from this list's
    /// last element back: a state that is not a prefix of a read usually differs in its newest
    /// element.
    fn is_prefix_of(&self, list: &[Elem]) -> bool {
        self.len <= list.len()
            && self
                .rev_iter()
                .zip(list[..self.len].iter().rev())
                .all(|(a, b)| a == b)
    }

    fn equals(&self, list: &[Elem]) -> bool {
        self.len == list.len() && self.is_prefix_of(list)
    }
}

impl PartialEq for ListState {
    fn eq(&self, other: &Self) -> bool {
        if self.hash != other.hash || self.len != other.len {
            return false;
        }
        let (mut a, mut b) = (self.last.as_ref(), other.last.as_ref());
        loop {
            match (a, b) {
                (None, None) => return true,
                // Shared tails are common (states grow from one another): equal from here on.
                (Some(x), Some(y)) if Arc::ptr_eq(x, y) => return true,
                (Some(x), Some(y)) if x.elem == y.elem => {
                    a = x.prev.as_ref();
                    b = y.prev.as_ref();
                }
                _ => return false,
            }
        }
    }
}

impl Eq for ListState {}

impl std::hash::Hash for ListState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The `append` spec: one list per key, every list empty at first. The search partitions by key,
/// so the state it checks is one key's list.
///
/// ```
/// use faultline_checkers::spec::{AppendSpec, AppendInput, AppendOp, AppendOutput, Spec};
/// let spec = AppendSpec;
/// let add = |e: &str| AppendInput { key: "k".into(), op: AppendOp::Append(e.into()) };
/// let s = spec.step(&spec.init(), &add("1"), &AppendOutput::Ok).unwrap();
/// let s = spec.step(&s, &add("2"), &AppendOutput::Ok).unwrap();
/// let read = AppendInput { key: "k".into(), op: AppendOp::Read };
/// assert!(spec.step(&s, &read, &AppendOutput::Read(vec!["1".into(), "2".into()].into())).is_some());
/// // A read that misses the acknowledged "2" (or shows them out of order) is not allowed.
/// assert!(spec.step(&s, &read, &AppendOutput::Read(vec!["1".into()].into())).is_none());
/// assert!(spec.step(&s, &read, &AppendOutput::Read(vec!["2".into(), "1".into()].into())).is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AppendSpec;

impl Spec for AppendSpec {
    type State = ListState;
    type Input = AppendInput;
    type Output = AppendOutput;

    fn init(&self) -> ListState {
        ListState::default()
    }

    fn step(
        &self,
        state: &ListState,
        input: &AppendInput,
        output: &AppendOutput,
    ) -> Option<ListState> {
        match (&input.op, output) {
            (AppendOp::Read, AppendOutput::Read(list)) => state.equals(list).then(|| state.clone()),
            (AppendOp::Append(e), AppendOutput::Ok) => Some(state.appended(e)),
            _ => None,
        }
    }

    fn step_unknown(&self, state: &ListState, input: &AppendInput) -> Option<ListState> {
        match &input.op {
            AppendOp::Read => None,
            AppendOp::Append(e) => Some(state.appended(e)),
        }
    }

    fn is_read_only(&self, input: &AppendInput, _output: &AppendOutput) -> bool {
        matches!(input.op, AppendOp::Read)
    }

    /// Lists only grow, one element per append: a read of `list` can still hold only if the
    /// current list is a prefix of it and every element after that prefix is a pending append's.
    fn can_still_hold(
        &self,
        state: &ListState,
        pending: &[&AppendInput],
        _input: &AppendInput,
        output: &AppendOutput,
    ) -> bool {
        let AppendOutput::Read(list) = output else {
            return true;
        };
        state.is_prefix_of(list)
            && list[state.len()..].iter().all(|e| {
                pending
                    .iter()
                    .any(|p| matches!(&p.op, AppendOp::Append(x) if x == e))
            })
    }

    fn partition(&self, input: &AppendInput) -> Option<String> {
        Some(input.key.to_string())
    }

    fn describe(&self, input: &AppendInput, output: Option<&AppendOutput>) -> String {
        let k = &input.key;
        match (&input.op, output) {
            (AppendOp::Read, Some(AppendOutput::Read(l))) => {
                format!("read[{k}] -> [{}]", l.join(", "))
            }
            (AppendOp::Read, _) => format!("read[{k}] -> ?"),
            (AppendOp::Append(e), Some(_)) => format!("append[{k}]({e})"),
            (AppendOp::Append(e), None) => format!("append[{k}]({e}) -> ?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(xs: &[&str]) -> Arc<[Elem]> {
        xs.iter().map(|x| Elem::from(*x)).collect()
    }

    fn add(e: &str) -> AppendInput {
        AppendInput {
            key: "k".into(),
            op: AppendOp::Append(e.into()),
        }
    }

    #[test]
    fn states_built_alike_are_equal_and_hash_alike() {
        let a = ListState::default()
            .appended(&"1".into())
            .appended(&"2".into());
        let b = ListState::default()
            .appended(&"1".into())
            .appended(&"2".into());
        let c = ListState::default()
            .appended(&"2".into())
            .appended(&"1".into());
        assert_eq!(a, b);
        assert_eq!(a.hash, b.hash);
        assert_ne!(a, c, "order matters");
        assert_eq!(a.to_vec(), list(&["1", "2"]).to_vec());
    }

    #[test]
    fn pruning_needs_a_prefix_and_pending_appends() {
        let spec = AppendSpec;
        let s = ListState::default().appended(&"1".into());
        let read = AppendInput {
            key: "k".into(),
            op: AppendOp::Read,
        };
        let out = AppendOutput::Read(list(&["1", "2"]));
        let two = add("2");
        assert!(spec.can_still_hold(&s, &[&two], &read, &out));
        assert!(
            !spec.can_still_hold(&s, &[], &read, &out),
            "2 can no longer come"
        );
        let other = ListState::default().appended(&"3".into());
        assert!(
            !spec.can_still_hold(&other, &[&two], &read, &out),
            "not a prefix"
        );
    }
}
