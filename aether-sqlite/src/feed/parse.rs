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

/// Texts copied out of their rows one after the other into one buffer: one allocation
/// per chunk instead of one per event.
pub(super) struct Chunk {
    text: String,
    /// Where each text ends in `text`.
    ends: Vec<usize>,
}

impl Chunk {
    fn with_capacity(texts: usize) -> Self {
        Chunk {
            text: String::with_capacity(texts * 64),
            ends: Vec::with_capacity(texts),
        }
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn texts(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

/// Parses a page's `data` texts in order. For a page that may be long, a thread of its
/// own parses them while the reader goes on reading rows, in chunks of [`PARSE_CHUNK`]:
/// a reader catching up keeps both cores of a small machine busy (parsing JSON is most
/// of a feed read's cost besides the read itself).
pub(super) enum JsonParser {
    Inline(Vec<serde_json::Value>, Option<(usize, String)>),
    Threaded {
        chunk: Chunk,
        to_parser: std::sync::mpsc::Sender<Chunk>,
        parser: std::thread::JoinHandle<Parsed>,
    },
}

impl JsonParser {
    pub(super) fn new(limit: usize) -> Self {
        if limit < PARALLEL_PARSE_MIN {
            return JsonParser::Inline(Vec::with_capacity(limit), None);
        }
        let (to_parser, chunks) = std::sync::mpsc::channel::<Chunk>();
        let parser = std::thread::spawn(move || {
            let mut values = Vec::with_capacity(limit.min(4_096));
            for chunk in chunks {
                for text in chunk.texts() {
                    let index = values.len();
                    values.push(serde_json::from_str(text).map_err(|e| (index, e.to_string()))?);
                }
            }
            Ok(values)
        });
        JsonParser::Threaded {
            chunk: Chunk::with_capacity(PARSE_CHUNK),
            to_parser,
            parser,
        }
    }

    pub(super) fn push(&mut self, text: &str) {
        match self {
            JsonParser::Inline(values, failed) => {
                if failed.is_none() {
                    match serde_json::from_str(text) {
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
                    let full = std::mem::replace(chunk, Chunk::with_capacity(PARSE_CHUNK));
                    // A parser that stopped at an error drops the rest unread.
                    let _ = to_parser.send(full);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_gives_back_its_texts_in_order() {
        let mut chunk = Chunk::with_capacity(2);
        for text in ["{\"a\":1}", "", "[1,2]", "\"é\""] {
            chunk.push(text);
        }
        let texts: Vec<&str> = chunk.texts().collect();
        assert_eq!(texts, ["{\"a\":1}", "", "[1,2]", "\"é\""]);
    }

    #[test]
    fn both_parsers_agree_and_name_the_first_bad_text() {
        let texts: Vec<String> = (0..300)
            .map(|i| {
                if i == 200 || i == 250 {
                    "{not json".to_owned()
                } else {
                    format!("{{\"n\":{i}}}")
                }
            })
            .collect();
        for limit in [1, 300] {
            let mut parser = JsonParser::new(limit);
            for text in &texts {
                parser.push(text);
            }
            let (index, _) = parser.finish().expect_err("a text is not JSON");
            assert_eq!(index, 200, "limit {limit}");
        }
        let mut parser = JsonParser::new(300);
        for text in &texts[..200] {
            parser.push(text);
        }
        let values = parser.finish().expect("all JSON");
        assert_eq!(values.len(), 200);
        assert_eq!(values[199]["n"], 199);
    }
}
