//! Arrow schemas of the stored tables and the naming of flat metric columns.
//!
//! A CEEMS metric map (`{"walltime": 497, "alloc_cputime": 7952}`) is stored flat: one nullable
//! `Float64` column per known key, named `<map>__<key>` (for example
//! `total_time_seconds__walltime`), so analysts write plain identifiers and aggregates run over
//! primitive arrays. Keys that are not plain lower-case identifiers (or exceed the column budget)
//! land in one overflow `Map<Utf8, Float64>` column per map, `<map>__overflow`. The set of known
//! keys is the [`KeyRegistry`], kept in the manifest so every version knows its columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// The thirteen metric maps of a compute unit, in the order of the CEEMS usage model.
pub const METRIC_MAPS: [&str; 13] = [
    "total_time_seconds",
    "avg_cpu_usage",
    "avg_cpu_mem_usage",
    "total_cpu_energy_usage_kwh",
    "total_cpu_emissions_gms",
    "avg_gpu_usage",
    "avg_gpu_mem_usage",
    "total_gpu_energy_usage_kwh",
    "total_gpu_emissions_gms",
    "total_io_write_stats",
    "total_io_read_stats",
    "total_ingress_stats",
    "total_outgress_stats",
];

/// Index of `total_time_seconds` in [`METRIC_MAPS`]; the weights of the averages live there.
pub const TOTAL_TIME_SECONDS: usize = 0;

/// For each average map (by index in [`METRIC_MAPS`]), the `total_time_seconds` key that weighs
/// it. Maps that are sums have no weight.
pub fn weight_key(map_index: usize) -> Option<&'static str> {
    match METRIC_MAPS[map_index] {
        "avg_cpu_usage" => Some("alloc_cputime"),
        "avg_cpu_mem_usage" => Some("alloc_cpumemtime"),
        "avg_gpu_usage" => Some("alloc_gputime"),
        "avg_gpu_mem_usage" => Some("alloc_gpumemtime"),
        _ => None,
    }
}

/// Index of a metric map by name; accepts the later CEEMS spelling `total_egress_stats`.
pub fn metric_map_index(name: &str) -> Option<usize> {
    let name = if name == "total_egress_stats" {
        "total_outgress_stats"
    } else {
        name
    };
    METRIC_MAPS.iter().position(|m| *m == name)
}

/// Separator between a map name and a key in a flat column name.
pub const FLAT_SEPARATOR: &str = "__";
/// Key suffix of the overflow column of a map; a metric key spelled like this stays in overflow.
pub const OVERFLOW_SUFFIX: &str = "overflow";
/// At most this many flat columns per map; later keys go to the overflow column.
pub const MAX_FLAT_KEYS_PER_MAP: usize = 64;

/// Whether `key` can become a flat column: a lower-case SQL identifier that needs no quoting.
pub fn is_flat_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 48
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && key != OVERFLOW_SUFFIX
}

/// Name of the flat column holding `key` of map `map`.
pub fn flat_column_name(map: &str, key: &str) -> String {
    format!("{map}{FLAT_SEPARATOR}{key}")
}

/// Name of the overflow column of map `map`.
pub fn overflow_column_name(map: &str) -> String {
    format!("{map}{FLAT_SEPARATOR}{OVERFLOW_SUFFIX}")
}

/// Known keys of every metric map, in the order their columns were created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegistry {
    /// Map name → keys with a flat column.
    pub keys: BTreeMap<String, Vec<String>>,
}

impl KeyRegistry {
    /// Keys of map `map_index` that have a flat column.
    pub fn keys_of(&self, map_index: usize) -> &[String] {
        self.keys
            .get(METRIC_MAPS[map_index])
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Registers `key` for `map_index` if it can be flat and the budget allows. Returns whether
    /// the key has (now) a flat column.
    pub fn register(&mut self, map_index: usize, key: &str) -> bool {
        if !is_flat_key(key) {
            return false;
        }
        let keys = self
            .keys
            .entry(METRIC_MAPS[map_index].to_string())
            .or_default();
        if keys.iter().any(|k| k == key) {
            return true;
        }
        if keys.len() >= MAX_FLAT_KEYS_PER_MAP {
            return false;
        }
        keys.push(key.to_string());
        true
    }

    /// Union of two registries (keys of `other` appended after ours).
    pub fn merge(&mut self, other: &KeyRegistry) {
        for (map, keys) in &other.keys {
            if let Some(i) = metric_map_index(map) {
                for k in keys {
                    self.register(i, k);
                }
            }
        }
    }
}

/// The timestamp type of every `*_ts` column: milliseconds since the epoch, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The type of an overflow metric column.
pub fn metric_map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Float64, true),
            ])),
            false,
        )),
        false,
    )
}

/// Column positions of the fixed part of the `units` schema.
pub mod units_col {
    pub const CLUSTER_ID: usize = 0;
    pub const RESOURCE_MANAGER: usize = 1;
    pub const UUID: usize = 2;
    pub const NAME: usize = 3;
    pub const PROJECT: usize = 4;
    pub const GROUPNAME: usize = 5;
    pub const USERNAME: usize = 6;
    pub const CREATED_AT: usize = 7;
    pub const STARTED_AT: usize = 8;
    pub const ENDED_AT: usize = 9;
    pub const CREATED_AT_TS: usize = 10;
    pub const STARTED_AT_TS: usize = 11;
    pub const ENDED_AT_TS: usize = 12;
    pub const ELAPSED: usize = 13;
    pub const STATE: usize = 14;
    pub const ALLOCATION: usize = 15;
    pub const TAGS: usize = 16;
    pub const IGNORE: usize = 17;
    pub const NUM_UPDATES: usize = 18;
    pub const LAST_UPDATED_AT: usize = 19;
    pub const LAST_UPDATED_AT_TS: usize = 20;
    /// Number of fixed columns; metric columns follow.
    pub const FIXED: usize = 21;
}

/// The fixed (non-metric) columns of `units`.
pub fn units_fixed_fields() -> Vec<Field> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    vec![
        Field::new("cluster_id", DataType::Utf8, false),
        s("resource_manager"),
        Field::new("uuid", DataType::Utf8, false),
        s("name"),
        s("project"),
        s("groupname"),
        s("username"),
        s("created_at"),
        s("started_at"),
        s("ended_at"),
        Field::new("created_at_ts", ts_type(), true),
        Field::new("started_at_ts", ts_type(), true),
        Field::new("ended_at_ts", ts_type(), true),
        s("elapsed"),
        s("state"),
        s("allocation"),
        s("tags"),
        Field::new("ignore", DataType::Boolean, false),
        Field::new("num_updates", DataType::Int64, false),
        s("last_updated_at"),
        Field::new("last_updated_at_ts", ts_type(), true),
    ]
}

/// The full `units` schema for a registry: fixed columns, then per map its flat columns (in
/// registry order) and its overflow column.
pub fn units_schema(registry: &KeyRegistry) -> SchemaRef {
    let mut fields = units_fixed_fields();
    for (i, map) in METRIC_MAPS.iter().enumerate() {
        for key in registry.keys_of(i) {
            fields.push(Field::new(
                flat_column_name(map, key),
                DataType::Float64,
                true,
            ));
        }
        fields.push(Field::new(
            overflow_column_name(map),
            metric_map_type(),
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// The `users` and `admin_users` schema (`projects` lists the user's projects).
pub fn users_schema() -> SchemaRef {
    member_schema("projects")
}

/// The `projects` schema (`users` lists the project's members).
pub fn projects_schema() -> SchemaRef {
    member_schema("users")
}

fn member_schema(list: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, true),
        Field::new("cluster_id", DataType::Utf8, false),
        Field::new("resource_manager", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, false),
        Field::new(
            list,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("tags", DataType::Utf8, true),
        Field::new("last_updated_at", DataType::Utf8, true),
    ]))
}

/// The stored tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Units,
    Users,
    Projects,
    AdminUsers,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [
        Table::Units,
        Table::Users,
        Table::Projects,
        Table::AdminUsers,
    ];

    /// SQL name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Units => "units",
            Table::Users => "users",
            Table::Projects => "projects",
            Table::AdminUsers => "admin_users",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keys_are_plain_identifiers() {
        assert!(is_flat_key("alloc_cputime"));
        assert!(is_flat_key("rte_total"));
        assert!(!is_flat_key("RTE"));
        assert!(!is_flat_key("a-b"));
        assert!(!is_flat_key("9lives"));
        assert!(!is_flat_key(""));
        assert!(!is_flat_key("overflow"));
    }

    #[test]
    fn registry_keeps_order_and_budget() {
        let mut r = KeyRegistry::default();
        assert!(r.register(0, "walltime"));
        assert!(r.register(0, "alloc_cputime"));
        assert!(r.register(0, "walltime"));
        assert!(!r.register(0, "a.b"));
        assert_eq!(r.keys_of(0), ["walltime", "alloc_cputime"]);
        for i in 0..MAX_FLAT_KEYS_PER_MAP {
            r.register(1, &format!("k{i}"));
        }
        assert!(!r.register(1, "one_too_many"));
        let schema = units_schema(&r);
        assert!(
            schema
                .field_with_name("total_time_seconds__walltime")
                .is_ok()
        );
        assert!(schema.field_with_name("avg_cpu_usage__overflow").is_ok());
        assert_eq!(
            schema.fields().len(),
            units_col::FIXED + 2 + MAX_FLAT_KEYS_PER_MAP + 13
        );
    }

    #[test]
    fn egress_spelling_maps_to_outgress() {
        assert_eq!(metric_map_index("total_egress_stats"), Some(12));
        assert_eq!(weight_key(1), Some("alloc_cputime"));
        assert_eq!(weight_key(0), None);
    }
}
