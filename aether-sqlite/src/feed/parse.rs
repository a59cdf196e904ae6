//! The feed's JSON: a page's `data` texts parsed into `serde_json::Value`s, on a thread
//! of their own for long pages.

use aether_core::{FeedError, FeedEvent};

/// Pages of at least this many events have their JSON parsed on a thread of its own
/// while the rows are read.
const PARALLEL_PARSE_MIN: usize = 256;

/// Texts handed to the parsing thread at a time.
const PARSE_CHUNK: usize = 64;

/// The payloads of a page, parsed in order; on the first text that is not JSON, its
/// index in the page and the parser's message.
pub(super) type Parsed = Result<Vec<serde_json::Value>, (usize, String)>;

/// Parses a page's `data` texts in order. For a page that may be long, a thread of its
/// own parses them while the reader goes on reading rows, in chunks of [`PARSE_CHUNK`]:
/// a reader catching up keeps both cores of a small machine busy (parsing JSON is most
/// of a feed read's cost besides the read itself).
pub(super) enum JsonParser {
    Inline(Vec<serde_json::Value>, Option<(usize, String)>),
    Threaded {
        chunk: Vec<String>,
        to_parser: std::sync::mpsc::Sender<Vec<String>>,
        parser: std::thread::JoinHandle<Parsed>,
    },
}

impl JsonParser {
    pub(super) fn new(limit: usize) -> Self {
        if limit < PARALLEL_PARSE_MIN {
            return JsonParser::Inline(Vec::with_capacity(limit), None);
        }
        let (to_parser, chunks) = std::sync::mpsc::channel::<Vec<String>>();
        let parser = std::thread::spawn(move || {
            let mut values = Vec::with_capacity(limit.min(4_096));
            for chunk in chunks {
                for text in chunk {
                    let index = values.len();
                    values.push(serde_json::from_str(&text).map_err(|e| (index, e.to_string()))?);
                }
            }
            Ok(values)
        });
        JsonParser::Threaded {
            chunk: Vec::with_capacity(PARSE_CHUNK),
            to_parser,
            parser,
        }
    }

    pub(super) fn push(&mut self, text: String) {
        match self {
            JsonParser::Inline(values, failed) => {
                if failed.is_none() {
                    match serde_json::from_str(&text) {
                        Ok(value) => values.push(value),
                        Err(e) => *failed = Some((values.len(), e.to_string())),
                    }
                }
            }
            JsonParser::Threaded {
                chunk, to_parser, ..
            } => {
                chunk.push(text);
                if chunk.len() == PARSE_CHUNK {
                    // A parser that stopped at an error drops the rest unread.
                    let _ = to_parser.send(std::mem::take(chunk));
                }
            }
        }
    }

    pub(super) fn finish(self) -> Parsed {
        match self {
            JsonParser::Inline(values, None) => Ok(values),
            JsonParser::Inline(_, Some(failed)) => Err(failed),
            JsonParser::Threaded {
                chunk,
                to_parser,
                parser,
            } => {
                if !chunk.is_empty() {
                    let _ = to_parser.send(chunk);
                }
                drop(to_parser);
                parser
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

/// Puts each parsed payload into its event; the first text that was not JSON is the
/// error, naming its position, actor and version.
pub(super) fn set_data(events: &mut [FeedEvent], parsed: Parsed) -> Result<(), FeedError> {
    match parsed {
        Ok(values) => {
            for (fed, value) in events.iter_mut().zip(values) {
                fed.event.data = value;
            }
            Ok(())
        }
        Err((index, reason)) => {
            let fed = &events[index];
            Err(FeedError::Serialization {
                position: fed.position,
                actor_id: fed.event.actor_id.clone(),
                version: fed.event.version,
                reason: format!("column data holds invalid JSON: {reason}"),
            })
        }
    }
}
