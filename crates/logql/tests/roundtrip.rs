//! The printer's contract, property-tested: a random valid tree prints to a query that parses
//! back to the very same tree, and printing that tree again gives the same text.

use kelp_logql::ast::{
    BinOp, BinOpModifier, BinaryOp, CmpOp, Conversion, Expr, GroupModifier, Grouping,
    LabelExtraction, LabelFilter, LabelFormat, LabelPredicate, LabelReplace, LineFilter,
    LineFilterOp, LineFilterValue, LogExpr, LogRange, Logfmt, MatchOp, Matcher, MetricExpr,
    NamedMatcher, RangeAggregation, RangeOp, Stage, Unwrap, VectorAggregation, VectorMatching,
    VectorOp,
};
use kelp_model::{ByteSize, GoDuration};
use proptest::prelude::*;

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "unwrap",
    "json",
    "logfmt",
    "regexp",
    "unpack",
    "pattern",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "or",
    "and",
    "unless",
];

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,5}",
        "[A-Z][a-zA-Z]{0,3}",
        Just("rate".to_owned()),
        Just("bytes".to_owned()),
        Just("ip".to_owned()),
        Just("__error__".to_owned()),
        Just("é_ü".to_owned()),
    ]
    .prop_filter("not a keyword", |s| {
        !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
    })
}

/// Any text, with quotes, backslashes, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["(?s).{0,8}", "[a-z \"\\\\`{}|\n\t\r\u{1}é😀]{0,8}",]
}

fn regex() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        ".+", "a|b", "[a-z]+", "(?i)x.*", "\\d{2,3}", "", ".*", "\\bx",
    ])
    .prop_map(str::to_owned)
}

fn matcher() -> BoxedStrategy<Matcher> {
    let op = prop::sample::select(vec![MatchOp::Eq, MatchOp::Neq, MatchOp::Re, MatchOp::Nre]);
    (ident(), op, text(), regex())
        .prop_map(|(name, op, text, re)| {
            let value = if matches!(op, MatchOp::Re | MatchOp::Nre) {
                re
            } else {
                text
            };
            Matcher { name, op, value }
        })
        .boxed()
}

fn selector() -> impl Strategy<Value = Vec<Matcher>> {
    (
        ident(),
        "[a-z]{1,5}",
        prop::collection::vec(matcher(), 0..3),
    )
        .prop_map(|(n, v, rest)| {
            let mut all = vec![Matcher {
                name: n,
                op: MatchOp::Eq,
                value: v,
            }];
            all.extend(rest);
            all
        })
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        (-1000i32..1000).prop_map(f64::from),
        (0.0..1.0f64),
    ]
}

fn duration() -> impl Strategy<Value = GoDuration> {
    prop_oneof![
        (i64::MIN + 1..=i64::MAX).prop_map(GoDuration),
        (-100_000i64..100_000).prop_map(|ms| GoDuration(ms * 1_000_000)),
    ]
}

fn cmp() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Neq,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Le,
    ])
}

fn predicate() -> BoxedStrategy<LabelPredicate> {
    prop_oneof![
        matcher().prop_map(LabelPredicate::Matcher),
        (ident(), any::<bool>(), text()).prop_map(|(name, negated, pattern)| LabelPredicate::Ip {
            name,
            negated,
            pattern
        }),
        (ident(), cmp(), finite()).prop_map(|(name, op, value)| LabelPredicate::Number {
            name,
            op,
            value
        }),
        (ident(), cmp(), duration()).prop_map(|(name, op, value)| LabelPredicate::Duration {
            name,
            op,
            value
        }),
        (ident(), cmp(), 0..1u64 << 53).prop_map(|(name, op, b)| LabelPredicate::Bytes {
            name,
            op,
            value: ByteSize(b)
        }),
    ]
    .boxed()
}

/// Flattens nested chains of the same kind, as the parser does.
fn flat(f: LabelFilter) -> LabelFilter {
    let (items, and) = match f {
        LabelFilter::Predicate(_) => return f,
        LabelFilter::And(items) => (items, true),
        LabelFilter::Or(items) => (items, false),
    };
    let mut out = Vec::new();
    for item in items.into_iter().map(flat) {
        match item {
            LabelFilter::And(children) if and => out.extend(children),
            LabelFilter::Or(children) if !and => out.extend(children),
            item => out.push(item),
        }
    }
    if and {
        LabelFilter::And(out)
    } else {
        LabelFilter::Or(out)
    }
}

fn label_filter() -> BoxedStrategy<LabelFilter> {
    predicate()
        .prop_map(LabelFilter::Predicate)
        .prop_recursive(3, 12, 3, |inner| {
            (any::<bool>(), prop::collection::vec(inner, 2..4)).prop_map(|(and, items)| {
                flat(if and {
                    LabelFilter::And(items)
                } else {
                    LabelFilter::Or(items)
                })
            })
        })
        .boxed()
}

fn extractions() -> BoxedStrategy<Vec<LabelExtraction>> {
    prop::collection::vec(
        (ident(), prop::option::of(text())).prop_map(|(label, e)| LabelExtraction {
            expression: e.unwrap_or_else(|| label.clone()),
            label,
        }),
        0..3,
    )
    .boxed()
}

fn named_matchers() -> BoxedStrategy<Vec<NamedMatcher>> {
    let item = prop_oneof![
        ident().prop_map(NamedMatcher::Name),
        matcher().prop_map(NamedMatcher::Matcher)
    ];
    prop::collection::vec(item, 1..3).boxed()
}

fn stage() -> BoxedStrategy<Stage> {
    let line_op = prop::sample::select(vec![
        LineFilterOp::Contains,
        LineFilterOp::NotContains,
        LineFilterOp::Match,
        LineFilterOp::NotMatch,
        LineFilterOp::Pattern,
        LineFilterOp::NotPattern,
    ]);
    let value = prop_oneof![
        text().prop_map(LineFilterValue::Text),
        text().prop_map(LineFilterValue::Ip)
    ];
    let label_format = prop_oneof![
        (ident(), ident()).prop_map(|(dst, src)| LabelFormat::Rename { dst, src }),
        (ident(), text()).prop_map(|(dst, template)| LabelFormat::Template { dst, template }),
    ];
    prop_oneof![
        (line_op, prop::collection::vec(value, 1..3))
            .prop_map(|(op, values)| Stage::LineFilter(LineFilter { op, values })),
        extractions().prop_map(Stage::Json),
        (any::<bool>(), any::<bool>(), extractions()).prop_map(|(strict, keep_empty, params)| {
            Stage::Logfmt(Logfmt {
                strict,
                keep_empty,
                params,
            })
        }),
        prop::sample::select(vec!["(?P<a>\\w+)", "x(?P<b_1>.*)y(?P<c>z)?"])
            .prop_map(|s| Stage::Regexp(s.into())),
        prop::sample::select(vec!["<a> <_> <b>", "x <a>", "<_>\"<ip>\""])
            .prop_map(|s| Stage::Pattern(s.into())),
        Just(Stage::Unpack),
        label_filter().prop_map(Stage::LabelFilter),
        text().prop_map(Stage::LineFormat),
        prop::collection::vec(label_format, 1..3).prop_map(Stage::LabelFormat),
        named_matchers().prop_map(Stage::Drop),
        named_matchers().prop_map(Stage::Keep),
        Just(Stage::Decolorize),
    ]
    .boxed()
}

fn log_expr() -> BoxedStrategy<LogExpr> {
    (selector(), prop::collection::vec(stage(), 0..4))
        .prop_map(|(selector, pipeline)| LogExpr { selector, pipeline })
        .boxed()
}

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(ident(), 0..3)).prop_map(|(by, labels)| {
        if by {
            Grouping::By(labels)
        } else {
            Grouping::Without(labels)
        }
    })
}

fn range_aggregation() -> BoxedStrategy<MetricExpr> {
    let ops = vec![
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AbsentOverTime,
        RangeOp::SumOverTime,
        RangeOp::AvgOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StddevOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::QuantileOverTime(0.0),
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
    ];
    let conversion = prop::option::of(prop::sample::select(vec![
        Conversion::Bytes,
        Conversion::Duration,
        Conversion::DurationSeconds,
    ]));
    let unwrap = (
        ident(),
        conversion,
        prop::collection::vec(label_filter(), 0..2),
    )
        .prop_map(|(label, conversion, post_filters)| Unwrap {
            label,
            conversion,
            post_filters,
        });
    (
        prop::sample::select(ops),
        finite(),
        log_expr(),
        prop::option::of(unwrap),
        0..100_000_000i64,
        duration(),
        prop::option::of(grouping()),
    )
        .prop_map(|(op, q, log, unwrap, ms, offset, grouping)| {
            let op = match op {
                RangeOp::QuantileOverTime(_) => RangeOp::QuantileOverTime(q.abs()),
                op => op,
            };
            let unwrap = match unwrap {
                Some(u) if op.allows_unwrap() => Some(u),
                None if op.requires_unwrap() => Some(Unwrap {
                    label: "v".into(),
                    conversion: None,
                    post_filters: vec![],
                }),
                _ => None,
            };
            let grouping = grouping.filter(|_| op.allows_grouping());
            let range = LogRange {
                log,
                unwrap,
                interval: GoDuration(ms * 1_000_000),
                offset,
            };
            MetricExpr::RangeAggregation(RangeAggregation {
                op,
                range,
                grouping,
            })
        })
        .boxed()
}

fn modifier(op: BinOp) -> impl Strategy<Value = BinOpModifier> {
    let group = prop::option::of((any::<bool>(), prop::collection::vec(ident(), 0..2)));
    let matching = prop::option::of((any::<bool>(), prop::collection::vec(ident(), 0..3), group));
    (any::<bool>(), matching).prop_map(move |(return_bool, matching)| BinOpModifier {
        return_bool: return_bool && op.is_comparison(),
        matching: matching.map(|(on, labels, group)| VectorMatching {
            on,
            labels,
            group: group.filter(|_| !op.is_set()).map(|(left, ls)| {
                if left {
                    GroupModifier::Left(ls)
                } else {
                    GroupModifier::Right(ls)
                }
            }),
        }),
    })
}

fn metric() -> impl Strategy<Value = MetricExpr> {
    let leaf = prop_oneof![
        3 => range_aggregation(),
        1 => finite().prop_map(MetricExpr::Literal),
        1 => finite().prop_map(|v| MetricExpr::Vector(v.abs())),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        let vector_ops = vec![
            VectorOp::Sum,
            VectorOp::Avg,
            VectorOp::Min,
            VectorOp::Max,
            VectorOp::Count,
            VectorOp::Stddev,
            VectorOp::Stdvar,
            VectorOp::TopK(0),
            VectorOp::BottomK(0),
            VectorOp::Sort,
            VectorOp::SortDesc,
            VectorOp::ApproxTopK(0),
        ];
        let bin_ops = vec![
            BinOp::Or,
            BinOp::And,
            BinOp::Unless,
            BinOp::Eq,
            BinOp::Neq,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Mod,
            BinOp::Pow,
        ];
        prop_oneof![
            (
                prop::sample::select(vector_ops),
                1..=i64::MAX as u64,
                prop::option::of(grouping()),
                inner.clone()
            )
                .prop_map(|(op, k, grouping, e)| {
                    let op = match op {
                        VectorOp::TopK(_) => VectorOp::TopK(k),
                        VectorOp::BottomK(_) => VectorOp::BottomK(k),
                        VectorOp::ApproxTopK(_) => VectorOp::ApproxTopK(k),
                        op => op,
                    };
                    let grouping = grouping.filter(|_| op.allows_grouping());
                    MetricExpr::VectorAggregation(VectorAggregation {
                        op,
                        grouping,
                        expr: Box::new(e),
                    })
                }),
            prop::sample::select(bin_ops)
                .prop_flat_map(move |op| (Just(op), modifier(op), inner.clone(), inner.clone()))
                .prop_map(|(op, modifier, l, r)| MetricExpr::BinaryOp(BinaryOp {
                    op,
                    modifier,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                })),
            (
                metric_leaf_for_label_replace(),
                text(),
                text(),
                text(),
                regex()
            )
                .prop_map(
                    |(e, dst, replacement, src, regex)| MetricExpr::LabelReplace(LabelReplace {
                        expr: Box::new(e),
                        dst,
                        replacement,
                        src,
                        regex,
                    })
                ),
        ]
    })
}

fn metric_leaf_for_label_replace() -> impl Strategy<Value = MetricExpr> {
    range_aggregation()
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        log_expr().prop_map(Expr::Log),
        metric().prop_map(Expr::Metric)
    ]
    .prop_filter("valid", |e| kelp_logql::validate(e).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(600)))]

    #[test]
    fn print_then_parse_gives_the_same_tree(e in expr()) {
        let printed = e.to_string();
        let parsed = kelp_logql::parse(&printed);
        prop_assert!(parsed.is_ok(), "{printed}\n{:?}", parsed.err());
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &e, "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }
}

#[test]
fn validate_rejects_what_does_not_print_back() {
    let log = |name: &str| {
        Expr::Log(LogExpr {
            selector: vec![Matcher {
                name: name.into(),
                op: MatchOp::Eq,
                value: "x".into(),
            }],
            pipeline: vec![],
        })
    };
    assert!(kelp_logql::validate(&log("app")).is_ok());
    for bad in ["json", "a b", "", "1a", "OR"] {
        assert!(kelp_logql::validate(&log(bad)).is_err(), "{bad}");
    }
    let nested = LabelFilter::And(vec![
        LabelFilter::And(vec![]),
        LabelFilter::Predicate(LabelPredicate::Number {
            name: "a".into(),
            op: CmpOp::Gt,
            value: 1.0,
        }),
    ]);
    let Expr::Log(mut l) = log("app") else {
        unreachable!()
    };
    l.pipeline.push(Stage::LabelFilter(nested));
    assert!(kelp_logql::validate(&Expr::Log(l)).is_err());
    assert!(kelp_logql::validate(&Expr::Metric(MetricExpr::Literal(f64::NAN))).is_err());
    assert!(kelp_logql::validate(&Expr::Metric(MetricExpr::Vector(-1.0))).is_err());
}
