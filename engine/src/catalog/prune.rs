//! File pruning with the manifest's per-file statistics.
//!
//! A filter conjunct is checked against a file's cluster and time ranges; only a conjunct that
//! provably matches no row of the file removes it. Anything not understood keeps the file.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::store::DataFile;

/// Whether any row of `file` may satisfy all `filters`.
pub fn file_may_match(filters: &[Expr], file: &DataFile) -> bool {
    filters.iter().all(|f| may_match(f, file))
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column_name(&c.expr),
        Expr::TryCast(c) => column_name(&c.expr),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn ts_value(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampMillisecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1000),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
        _ => None,
    }
}

fn string_value(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s),
        _ => None,
    }
}

fn range_of(file: &DataFile, col: &str) -> Option<Option<(i64, i64)>> {
    let s = file.stats.as_ref()?;
    match col {
        "ended_at_ts" => Some(s.ended_at_ts),
        "started_at_ts" => Some(s.started_at_ts),
        "last_updated_at_ts" => Some(s.last_updated_at_ts),
        _ => None,
    }
}

fn flip(op: Operator) -> Operator {
    match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        o => o,
    }
}

fn compare_may_match(file: &DataFile, col: &str, op: Operator, v: &ScalarValue) -> bool {
    if col == "cluster_id" {
        if let (Some(p), Some(s), Operator::Eq) = (&file.partition, string_value(v), op) {
            return p.cluster_id == s;
        }
        return true;
    }
    let (Some(range), Some(x)) = (range_of(file, col), ts_value(v)) else {
        return true;
    };
    // All values null: no comparison can be true.
    let Some((min, max)) = range else {
        return false;
    };
    match op {
        Operator::Eq => min <= x && x <= max,
        Operator::Lt => min < x,
        Operator::LtEq => min <= x,
        Operator::Gt => max > x,
        Operator::GtEq => max >= x,
        _ => true,
    }
}

fn may_match(e: &Expr, file: &DataFile) -> bool {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => may_match(left, file) && may_match(right, file),
            Operator::Or => may_match(left, file) || may_match(right, file),
            _ => {
                if let (Some(c), Some(v)) = (column_name(left), literal(right)) {
                    compare_may_match(file, c, *op, v)
                } else if let (Some(v), Some(c)) = (literal(left), column_name(right)) {
                    compare_may_match(file, c, flip(*op), v)
                } else {
                    true
                }
            }
        },
        Expr::Between(b) if !b.negated => {
            match (column_name(&b.expr), literal(&b.low), literal(&b.high)) {
                (Some(c), Some(lo), Some(hi)) => {
                    compare_may_match(file, c, Operator::GtEq, lo)
                        && compare_may_match(file, c, Operator::LtEq, hi)
                }
                _ => true,
            }
        }
        Expr::InList(l) if !l.negated => match column_name(&l.expr) {
            Some(c) => l.list.iter().any(|item| match literal(item) {
                Some(v) => compare_may_match(file, c, Operator::Eq, v),
                None => true,
            }),
            None => true,
        },
        Expr::IsNull(inner) => match column_name(inner) {
            Some("ended_at_ts") => file
                .stats
                .as_ref()
                .map(|s| s.running_rows > 0)
                .unwrap_or(true),
            _ => true,
        },
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Partition, UnitStats};
    use datafusion::prelude::{col, lit};

    fn file() -> DataFile {
        DataFile {
            path: "x".into(),
            rows: 10,
            bytes: 1,
            partition: Some(Partition {
                cluster_id: "slurm-0".into(),
                month: "2024-01".into(),
            }),
            stats: Some(UnitStats {
                started_at_ts: Some((100, 200)),
                ended_at_ts: Some((150, 300)),
                last_updated_at_ts: None,
                running_rows: 0,
            }),
        }
    }

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(v),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn time_ranges_prune() {
        let f = file();
        assert!(file_may_match(&[col("ended_at_ts").gt_eq(ts(300))], &f));
        assert!(!file_may_match(&[col("ended_at_ts").gt(ts(300))], &f));
        assert!(!file_may_match(&[col("ended_at_ts").lt(ts(150))], &f));
        assert!(file_may_match(&[ts(150).gt_eq(col("ended_at_ts"))], &f));
        assert!(!file_may_match(
            &[col("ended_at_ts").between(ts(0), ts(100))],
            &f
        ));
        assert!(!file_may_match(&[col("ended_at_ts").is_null()], &f));
        // Only nulls in last_updated_at_ts: no comparison matches.
        assert!(!file_may_match(&[col("last_updated_at_ts").gt(ts(0))], &f));
        // OR keeps the file when one side may match.
        assert!(file_may_match(
            &[col("ended_at_ts")
                .gt(ts(1000))
                .or(col("ended_at_ts").lt(ts(200)))],
            &f
        ));
    }

    #[test]
    fn clusters_prune() {
        let f = file();
        assert!(file_may_match(&[col("cluster_id").eq(lit("slurm-0"))], &f));
        assert!(!file_may_match(&[col("cluster_id").eq(lit("os-0"))], &f));
        assert!(!file_may_match(
            &[col("cluster_id").in_list(vec![lit("a"), lit("b")], false)],
            &f
        ));
        assert!(file_may_match(
            &[col("cluster_id").in_list(vec![lit("a"), lit("slurm-0")], false)],
            &f
        ));
        assert!(file_may_match(&[col("username").eq(lit("x"))], &f));
    }
}
