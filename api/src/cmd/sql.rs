//! `ceems-lake sql`: read-only SQL over the store.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use ceems_lake_engine::Lake;
use ceems_lake_engine::session::SessionSettings;
use ceems_lake_engine::store::Store;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;

use crate::cli::{OutputFormat, SqlArgs};

pub async fn run(store: Store, a: &SqlArgs) -> anyhow::Result<()> {
    let lake = Lake::open(store, SessionSettings::default()).await?;
    if a.format == OutputFormat::Parquet && a.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "--format parquet writes binary data: give --output FILE or redirect standard output"
        );
    }
    let mut out: Box<dyn Write + Send> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let limit = (a.timeout > 0).then(|| std::time::Duration::from_secs(a.timeout));
    if let Some(q) = &a.query {
        execute(&lake, q, a.format, &mut out, limit).await?;
        out.flush()?;
        return Ok(());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return repl(&lake, a.format, &mut out, limit).await;
    }
    let mut text = String::new();
    for line in stdin.lock().lines() {
        text.push_str(&line?);
        text.push('\n');
    }
    for stmt in split_statements(&text) {
        execute(&lake, &stmt, a.format, &mut out, limit).await?;
    }
    out.flush()?;
    Ok(())
}

async fn repl(
    lake: &Lake,
    format: OutputFormat,
    out: &mut Box<dyn Write + Send>,
    limit: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    eprintln!(
        "ceems-lake SQL on {} (version {}). Tables: units, users, projects, admin_users. End statements with ';', \\q to quit.",
        lake.store().location(),
        lake.snapshot().version()
    );
    let stdin = std::io::stdin();
    let mut buf = String::new();
    loop {
        eprint!(
            "{}",
            if buf.is_empty() {
                "ceems-lake> "
            } else {
                "       ...> "
            }
        );
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            eprintln!();
            return Ok(());
        }
        let t = line.trim();
        if buf.is_empty() && matches!(t, "\\q" | "quit" | "exit") {
            return Ok(());
        }
        buf.push_str(&line);
        if !t.ends_with(';') {
            continue;
        }
        for stmt in split_statements(&buf) {
            let started = std::time::Instant::now();
            match execute(lake, &stmt, format, out, limit).await {
                Ok(rows) => {
                    out.flush()?;
                    eprintln!("{rows} rows in {:.3} s", started.elapsed().as_secs_f64());
                }
                Err(e) => eprintln!("error: {}", super::error_text(&e)),
            }
        }
        buf.clear();
    }
}

/// Splits a script on `;` outside quotes and comments.
pub fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c2 in chars.by_ref() {
                        if c2 == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Runs one statement within `limit` and writes its result; returns the row count. A statement
/// that runs out of time is cancelled (its plan is dropped) and reported as an error.
async fn execute(
    lake: &Lake,
    query: &str,
    format: OutputFormat,
    out: &mut Box<dyn Write + Send>,
    limit: Option<std::time::Duration>,
) -> anyhow::Result<usize> {
    let Some(limit) = limit else {
        return run_statement(lake, query, format, out).await;
    };
    match tokio::time::timeout(limit, run_statement(lake, query, format, out)).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!(
            "the statement ran longer than --timeout {} s and was stopped (--timeout 0: no limit)",
            limit.as_secs()
        ),
    }
}

async fn run_statement(
    lake: &Lake,
    query: &str,
    format: OutputFormat,
    out: &mut Box<dyn Write + Send>,
) -> anyhow::Result<usize> {
    let df = lake.sql_read_only(query).await?;
    let schema: Arc<datafusion::arrow::datatypes::Schema> =
        Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let mut rows = 0usize;
    match format {
        OutputFormat::Table => {
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                batches.push(b);
            }
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(Arc::clone(&schema)));
            }
            writeln!(
                out,
                "{}",
                datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
            )?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            let mut wrote = false;
            while let Some(b) = stream.next().await {
                let b = nested_as_json_text(&b?)?;
                rows += b.num_rows();
                w.write(&b)?;
                wrote = true;
            }
            if !wrote {
                let empty = RecordBatch::new_empty(Arc::clone(&schema));
                w.write(&nested_as_json_text(&empty)?)?;
            }
        }
        OutputFormat::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                w.write(&b)?;
            }
            // `finish` writes `[]` when no row was written.
            w.finish()?;
            writeln!(w.into_inner())?;
        }
        OutputFormat::Ndjson => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                w.write(&b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(out, Arc::clone(&schema), None)?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                w.write(&b)?;
            }
            w.close()?;
        }
    }
    Ok(rows)
}

/// CSV has no nested values: map, list and struct columns (the logical metric maps, the
/// members lists) become JSON text, e.g. `{"walltime":10.0}`.
fn nested_as_json_text(b: &RecordBatch) -> anyhow::Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    if !b
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(b.clone());
    }
    let mut fields = Vec::with_capacity(b.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if !f.data_type().is_nested() {
            fields.push(Arc::clone(f));
            columns.push(Arc::clone(c));
            continue;
        }
        // One-column batch through the JSON writer: a line per row, `{}` for a null value.
        let one = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "v",
                f.data_type().clone(),
                true,
            )])),
            vec![Arc::clone(c)],
        )?;
        let mut text = Vec::new();
        {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut text);
            w.write(&one)?;
            w.finish()?;
        }
        let mut sb = StringBuilder::with_capacity(c.len(), text.len());
        for line in text.split(|b| *b == b'\n').take(c.len()) {
            let v: serde_json::Value = serde_json::from_slice(line)?;
            match v.get("v") {
                Some(x) if !x.is_null() => sb.append_value(x.to_string()),
                _ => sb.append_null(),
            }
        }
        fields.push(Arc::new(Field::new(f.name(), DataType::Utf8, true)));
        columns.push(Arc::new(sb.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("select ';' as a; -- c;\nselect 2;;"),
            vec!["select ';' as a".to_string(), "select 2".to_string()]
        );
    }
}
