//! Parquet encoding and decoding of store files.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, MapBuilder, MapFieldNames, RecordBatch,
    StringBuilder, new_null_array,
};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::schema;
use crate::store::Store;

/// Rows per row group: small enough that time-window statistics prune well, large enough for
/// efficient scans.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// String columns whose values are (nearly) unique per unit: a dictionary never pays off for
/// them. See [`writer_properties`].
const UNIQUE_VALUE_COLUMNS: [&str; 5] = [
    "uuid",
    "created_at",
    "started_at",
    "ended_at",
    "last_updated_at",
];

/// Settings of every file the store writes. Dictionary encoding is kept for the strings that
/// repeat (cluster, user, project, state, allocation, tags …) and left out for the unique
/// strings above and for the Float64 metric columns, whose values rarely repeat: for them the
/// writer only hashed every value until the dictionary page overflowed, then compressed that
/// page as well as the data pages (about half of the commit time of an import, for files of
/// about the same size; see BENCHMARKS.md).
fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_created_by(format!("ceems-lake {}", env!("CARGO_PKG_VERSION")));
    let plain = schema
        .fields()
        .iter()
        .filter(|f| {
            f.data_type() == &DataType::Float64 || UNIQUE_VALUE_COLUMNS.contains(&f.name().as_str())
        })
        .map(|f| f.name());
    for name in plain {
        b = b.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), false);
    }
    b.build()
}

/// Encodes batches (all of `schema`) as one Parquet file.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<bytes::Bytes> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut w = ArrowWriter::try_new(
        &mut buf,
        Arc::clone(schema),
        Some(writer_properties(schema)),
    )
    .map_err(|e| Error::parquet("<new file>", e))?;
    for b in batches {
        w.write(b).map_err(|e| Error::parquet("<new file>", e))?;
    }
    w.close().map_err(|e| Error::parquet("<new file>", e))?;
    Ok(bytes::Bytes::from(buf))
}

/// Reads a whole file, or only the named top-level columns.
pub async fn read(store: &Store, path: &str, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>> {
    let bytes = store
        .object_store()
        .get(&Path::from(path))
        .await
        .map_err(|e| Error::storage(path, e))?
        .bytes()
        .await
        .map_err(|e| Error::storage(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| Error::parquet(path, e))?
        .with_batch_size(64 * 1024);
    if let Some(cols) = columns {
        let schema = Arc::clone(builder.schema());
        let indices: Vec<usize> = cols
            .iter()
            .filter_map(|c| schema.index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(|e| Error::parquet(path, e))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::from)
}

/// Reshapes `batch` to `target`: columns are matched by name; missing nullable columns become
/// nulls (files written before a metric key was known lack its column).
pub fn adapt(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *target {
        return Ok(batch.clone());
    }
    let src = batch.schema();
    let folded = fold_unknown_flat_columns(batch, target)?;
    let cols: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|f| {
            if let Some(a) = folded.get(f.name()) {
                return Ok(Arc::clone(a));
            }
            match src.index_of(f.name()) {
                Ok(i) => {
                    let c = batch.column(i);
                    if c.data_type() == f.data_type() {
                        Ok(Arc::clone(c))
                    } else {
                        arrow::compute::cast(c, f.data_type()).map_err(Error::from)
                    }
                }
                Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
            }
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(Arc::clone(target), cols)?)
}

/// Flat metric columns of `batch` that `target` has no column for happen when two writers
/// registered different new keys and their union went over the flat-column budget: their
/// values move into the map's overflow column (keys as they were), so nothing is lost.
/// Returns the rebuilt overflow columns by name.
fn fold_unknown_flat_columns(
    batch: &RecordBatch,
    target: &SchemaRef,
) -> Result<HashMap<String, ArrayRef>> {
    let src = batch.schema();
    let mut extra: HashMap<String, Vec<(&str, ArrayRef)>> = HashMap::new();
    for (i, f) in src.fields().iter().enumerate() {
        if target.index_of(f.name()).is_ok() {
            continue;
        }
        let Some((map, key)) = f.name().split_once(schema::FLAT_SEPARATOR) else {
            continue;
        };
        if key == schema::OVERFLOW_SUFFIX || schema::metric_map_index(map).is_none() {
            continue;
        }
        let overflow = schema::overflow_column_name(map);
        if target.index_of(&overflow).is_err() {
            continue;
        }
        let values = arrow::compute::cast(batch.column(i), &DataType::Float64)?;
        extra.entry(overflow).or_default().push((key, values));
    }
    let mut out = HashMap::with_capacity(extra.len());
    for (overflow, keys) in extra {
        let existing = src
            .index_of(&overflow)
            .ok()
            .and_then(|i| batch.column(i).as_map_opt().cloned());
        let mut b = MapBuilder::new(
            Some(MapFieldNames {
                entry: "entries".into(),
                key: "key".into(),
                value: "value".into(),
            }),
            StringBuilder::new(),
            Float64Builder::new(),
        );
        for row in 0..batch.num_rows() {
            let mut any = false;
            if let Some(m) = existing.as_ref().filter(|m| m.is_valid(row)) {
                let entries = m.value(row);
                let k = entries.column(0).as_string::<i32>();
                let v = entries.column(1).as_primitive::<Float64Type>();
                for j in 0..entries.len() {
                    b.keys().append_value(k.value(j));
                    b.values().append_option(v.is_valid(j).then(|| v.value(j)));
                    any = true;
                }
            }
            for (key, values) in &keys {
                let v = values.as_primitive::<Float64Type>();
                if v.is_valid(row) {
                    b.keys().append_value(key);
                    b.values().append_value(v.value(row));
                    any = true;
                }
            }
            b.append(any)?;
        }
        out.insert(overflow, Arc::new(b.finish()) as ArrayRef);
    }
    Ok(out)
}
