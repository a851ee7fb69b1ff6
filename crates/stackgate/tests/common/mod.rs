//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};

/// Log lines the current thread writes while the capture lives, at TRACE and with the functions'
/// own filter (which caps the raw-event and wire logs).
///
/// One process-wide subscriber writes each thread's lines to that thread's capture, if any. (A
/// thread-local subscriber per test is not enough: a callsite first reached by a test on another
/// thread can cache "not interested" while a capture starts, and its lines go missing.)
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = capture.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub fn start() -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            // The functions' own subscriber (filter and wire cap), at TRACE.
            let subscriber =
                stackgate::telemetry::subscriber(Some("trace"), || ThreadWriter, false);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the tests");
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(buffer.clone()));
        CapturedLogs { buffer }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }
}

impl Drop for CapturedLogs {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
    }
}

/// Records one figure of `docs/reliability.md` when `STACKGATE_REPORT_DIR` is set (as
/// `scripts/reliability.sh` and CI do): one JSON file per record, so parallel tests never share a
/// file. Called after a test's assertions, so a record means the case passed.
pub fn report(kind: &str, name: &str, record: serde_json::Value) {
    let Some(dir) = std::env::var_os("STACKGATE_REPORT_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&dir).join(kind);
    std::fs::create_dir_all(&dir).unwrap();
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::fs::write(
        dir.join(format!("{file}.json")),
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .unwrap();
}

/// A zip of `(path, text)` files, as a CodePipeline revision holds them.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, text) in files {
        writer
            .start_file(*path, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// S3 answering GetObject of exactly `bucket`/`key` with `bytes`, their length given as S3 gives it.
pub fn s3_object(
    bucket: &'static str,
    key: &'static str,
    bytes: Vec<u8>,
) -> aws_smithy_mocks::Rule {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    aws_smithy_mocks::mock!(aws_sdk_s3::Client::get_object)
        .match_requests(move |r| r.bucket() == Some(bucket) && r.key() == Some(key))
        .then_output(move || {
            GetObjectOutput::builder()
                .content_length(bytes.len() as i64)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes.clone()))
                .build()
        })
}
