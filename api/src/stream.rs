//! Streamed success envelopes: a list answered batch by batch as the query produces them, so a
//! large answer never sits whole in memory.
//!
//! The handler pulls the first batch with rows ([`first_rows`]) before answering, so planning
//! and early execution errors still get their own status and error envelope. The body is then
//! the envelope's opening and `[`, the encoded batches, and `]}` + newline: byte for byte what
//! the collected answer would be.
//!
//! Once the 200 is sent, an error can no longer change the status. When a later batch fails, or
//! the request deadline passes, the body ends with an error: the server stops the response and
//! closes the connection without the chunked encoding's final chunk, so a client sees a
//! truncated transfer (an error in every HTTP client), never a complete-looking document. The
//! cause is logged.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::envelope::{SUCCESS_CLOSE, SUCCESS_OPEN};
use crate::error::{ApiError, json_response};
use crate::metrics::Metrics;
use crate::state::RequestDeadline;

/// The first batch with rows, or `None` when the stream ends without one.
pub async fn first_rows(
    batches: &mut SendableRecordBatchStream,
) -> Result<Option<RecordBatch>, ApiError> {
    while let Some(b) = batches.next().await {
        let b = b?;
        if b.num_rows() > 0 {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// What the body stream carries between items.
struct Rest<E> {
    batches: SendableRecordBatchStream,
    encode: E,
    metrics: Arc<Metrics>,
}

/// A 200 success envelope whose `data` is a JSON array of `first` and then every batch of
/// `rest`, each turned into array elements by `encode` (which separates them from earlier
/// ones). Rows are counted in the sent-units metric as they are sent.
pub fn json_array<E>(
    first: RecordBatch,
    rest: SendableRecordBatchStream,
    mut encode: E,
    metrics: Arc<Metrics>,
    deadline: RequestDeadline,
) -> Response
where
    E: FnMut(&RecordBatch, &mut Vec<u8>) + Send + 'static,
{
    let mut head = Vec::with_capacity(SUCCESS_OPEN.len() + 1 + 4096);
    head.extend_from_slice(SUCCESS_OPEN);
    head.push(b'[');
    encode(&first, &mut head);
    metrics.add_rows_sent(first.num_rows() as u64);
    let state = Some(Rest {
        batches: rest,
        encode,
        metrics,
    });
    let tail = futures::stream::unfold(state, move |state| async move {
        let mut s = state?;
        loop {
            let next = tokio::time::timeout_at(deadline.0, s.batches.next()).await;
            let b = match next {
                Ok(Some(Ok(b))) => b,
                Ok(None) => {
                    let mut end = Vec::with_capacity(1 + SUCCESS_CLOSE.len());
                    end.push(b']');
                    end.extend_from_slice(SUCCESS_CLOSE);
                    return Some((Ok(Bytes::from(end)), None));
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "query failed while its answer was sent; response cut off");
                    return Some((Err(std::io::Error::other("query failed")), None));
                }
                Err(_) => {
                    tracing::warn!("request timed out while its answer was sent; response cut off");
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "request timed out",
                        )),
                        None,
                    ));
                }
            };
            if b.num_rows() == 0 {
                continue;
            }
            let mut out = Vec::new();
            (s.encode)(&b, &mut out);
            s.metrics.add_rows_sent(b.num_rows() as u64);
            return Some((Ok(Bytes::from(out)), Some(s)));
        }
    });
    // Fused: the compression layer may poll again after the end.
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
        .chain(tail)
        .fuse();
    json_response(StatusCode::OK, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::error::DataFusionError;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn batch(values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("batch")
    }

    fn batches(
        items: Vec<Result<RecordBatch, DataFusionError>>,
        then_pending: bool,
    ) -> SendableRecordBatchStream {
        let s = futures::stream::iter(items);
        if then_pending {
            Box::pin(RecordBatchStreamAdapter::new(
                schema(),
                s.chain(futures::stream::pending()),
            ))
        } else {
            Box::pin(RecordBatchStreamAdapter::new(schema(), s))
        }
    }

    /// Writes the values of column 0 as JSON numbers, comma-separated across batches.
    fn encoder() -> impl FnMut(&RecordBatch, &mut Vec<u8>) + Send + 'static {
        let mut first = true;
        move |b: &RecordBatch, out: &mut Vec<u8>| {
            let col = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("int64");
            for v in col.values() {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(v.to_string().as_bytes());
            }
        }
    }

    fn later(secs: u64) -> RequestDeadline {
        RequestDeadline(tokio::time::Instant::now() + Duration::from_secs(secs))
    }

    /// The body's chunks until its end or first error.
    async fn chunks(r: Response) -> (Vec<u8>, Option<String>) {
        let mut data = r.into_body().into_data_stream();
        let mut out = Vec::new();
        while let Some(c) = data.next().await {
            match c {
                Ok(c) => out.extend_from_slice(&c),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn batches_are_framed_like_the_collected_envelope() {
        let mut rest = batches(
            vec![
                Ok(batch(&[])),
                Ok(batch(&[1, 2])),
                Ok(batch(&[])),
                Ok(batch(&[3])),
            ],
            false,
        );
        let first = first_rows(&mut rest).await.expect("ok").expect("rows");
        let metrics = Arc::new(Metrics::default());
        let r = json_array(first, rest, encoder(), Arc::clone(&metrics), later(60));
        assert_eq!(r.status(), StatusCode::OK);
        let (body, err) = chunks(r).await;
        assert_eq!(err, None);
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "{\"status\":\"success\",\"data\":[1,2,3]}\n"
        );
    }

    #[tokio::test]
    async fn an_empty_stream_has_no_first_rows_and_errors_before_it_are_returned() {
        let mut none = batches(vec![Ok(batch(&[])), Ok(batch(&[]))], false);
        assert!(first_rows(&mut none).await.expect("ok").is_none());
        let mut failing = batches(
            vec![Err(DataFusionError::Execution("no such file".into()))],
            false,
        );
        assert!(first_rows(&mut failing).await.is_err());
    }

    #[tokio::test]
    async fn a_failure_after_the_first_batch_ends_the_body_with_an_error() {
        let rest = batches(
            vec![
                Ok(batch(&[2])),
                Err(DataFusionError::Execution("disk gone".into())),
                Ok(batch(&[3])),
            ],
            false,
        );
        let r = json_array(
            batch(&[1]),
            rest,
            encoder(),
            Arc::new(Metrics::default()),
            later(60),
        );
        let (body, err) = chunks(r).await;
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "{\"status\":\"success\",\"data\":[1,2"
        );
        let err = err.expect("an error ends the body");
        assert!(!err.contains("disk gone"), "no detail to the client: {err}");
    }

    #[tokio::test]
    async fn the_deadline_cuts_a_slow_stream() {
        let rest = batches(vec![Ok(batch(&[2]))], true);
        let deadline = RequestDeadline(tokio::time::Instant::now() + Duration::from_millis(50));
        let r = json_array(
            batch(&[1]),
            rest,
            encoder(),
            Arc::new(Metrics::default()),
            deadline,
        );
        let (body, err) = chunks(r).await;
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "{\"status\":\"success\",\"data\":[1,2"
        );
        assert!(err.expect("timed out").contains("timed out"));
    }
}
