//! A policy's header steps, worked out when the routing table is built, so that writing a head
//! never builds a header map: for every header name the steps touch, what ends up on the wire
//! when the message came with that header, and when it came without.
//!
//! `set-header` steps apply in order (override, skip if present, append, delete); run on the
//! two possible starting points, "the message's own values" and "nothing", each name's steps
//! reduce to: keep the message's values or not, then append these values.

use gatehouse_model::snapshot::{ExistsAction, HeaderOp};
use http::{HeaderName, HeaderValue};

/// What ends up on the wire for one name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The message's own values are kept (first).
    pub(crate) keep: bool,
    /// Then these are written.
    pub(crate) values: Vec<HeaderValue>,
}

/// One name the steps touch.
#[derive(Clone, Debug)]
pub(crate) struct Touched {
    pub(crate) name: HeaderName,
    /// When the message carried the header.
    pub(crate) present: Outcome,
    /// When it did not.
    pub(crate) absent: Outcome,
}

/// The steps of one section, compiled.
#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    pub(crate) touched: Vec<Touched>,
}

/// Most names one program tracks with a bit each; a policy touching more has its requests
/// relayed by hyper.
pub(crate) const MAX_TOUCHED: usize = 64;

impl Program {
    /// Compiles the steps of `ops` on names `skip` does not pick (names the gateway writes
    /// itself afterwards, so steps on them would have no effect); `None` when they touch
    /// more than [`MAX_TOUCHED`] names.
    pub(crate) fn compile_except(
        ops: &[HeaderOp],
        skip: impl Fn(&HeaderName) -> bool,
    ) -> Option<Self> {
        let ops: Vec<&HeaderOp> = ops.iter().filter(|op| !skip(&op.name)).collect();
        let mut touched: Vec<Touched> = Vec::new();
        for op in &ops {
            if touched.iter().any(|t| t.name == op.name) {
                continue;
            }
            let steps: Vec<&HeaderOp> = ops.iter().copied().filter(|o| o.name == op.name).collect();
            touched.push(Touched {
                name: op.name.clone(),
                present: run(&steps, true),
                absent: run(&steps, false),
            });
        }
        (touched.len() <= MAX_TOUCHED).then_some(Self { touched })
    }

    /// The index of `name` (any case) among the touched names.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.touched
            .iter()
            .position(|t| t.name.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// What to write for touched name `index`, given whether the message carried it.
    pub(crate) fn outcome(&self, index: usize, present: bool) -> &Outcome {
        let t = &self.touched[index];
        if present { &t.present } else { &t.absent }
    }
}

/// The steps for one name, from a message that carried it (`present`) or not.
fn run(steps: &[&HeaderOp], present: bool) -> Outcome {
    let mut out = Outcome {
        keep: present,
        values: Vec::new(),
    };
    for step in steps {
        match step.action {
            ExistsAction::Override => {
                out.keep = false;
                out.values = step.values.clone();
            }
            ExistsAction::Skip => {
                if !out.keep && out.values.is_empty() {
                    out.values.extend(step.values.iter().cloned());
                }
            }
            ExistsAction::Append => out.values.extend(step.values.iter().cloned()),
            ExistsAction::Delete => {
                out.keep = false;
                out.values.clear();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &'static str, action: ExistsAction, values: &[&'static str]) -> HeaderOp {
        HeaderOp {
            name: HeaderName::from_static(name),
            action,
            values: values.iter().map(|v| HeaderValue::from_static(v)).collect(),
        }
    }

    /// The same steps through `headers::apply` (the hyper path's) and through the program
    /// give the same header values, with and without the header in the message.
    #[test]
    fn programs_agree_with_the_step_by_step_rules() {
        use ExistsAction::*;
        let cases: Vec<Vec<HeaderOp>> = vec![
            vec![op("x-a", Override, &["1"])],
            vec![op("x-a", Skip, &["1"])],
            vec![op("x-a", Append, &["1", "2"])],
            vec![op("x-a", Delete, &[])],
            vec![op("x-a", Delete, &[]), op("x-a", Skip, &["3"])],
            vec![
                op("x-a", Override, &["1"]),
                op("x-a", Skip, &["2"]),
                op("x-a", Append, &["3"]),
            ],
            vec![
                op("x-a", Append, &["1"]),
                op("x-a", Override, &["2"]),
                op("x-b", Skip, &["b"]),
            ],
            vec![op("x-a", Skip, &["1"]), op("x-a", Skip, &["2"])],
        ];
        for ops in cases {
            let program = Program::compile_except(&ops, |_| false).unwrap();
            for present in [true, false] {
                let mut map = http::HeaderMap::new();
                if present {
                    for t in &program.touched {
                        map.append(t.name.clone(), HeaderValue::from_static("client"));
                    }
                }
                crate::headers::apply(&mut map, &ops);
                for (i, t) in program.touched.iter().enumerate() {
                    let outcome = program.outcome(i, present);
                    let mut expected: Vec<&str> = Vec::new();
                    if outcome.keep {
                        expected.push("client");
                    }
                    expected.extend(outcome.values.iter().map(|v| v.to_str().unwrap()));
                    let got: Vec<&str> = map
                        .get_all(&t.name)
                        .iter()
                        .map(|v| v.to_str().unwrap())
                        .collect();
                    assert_eq!(got, expected, "{ops:?} present={present}");
                }
            }
        }
    }
}
