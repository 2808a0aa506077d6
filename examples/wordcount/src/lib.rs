//! How to run: `weft deploy target/wasm32-wasip2/release/example_wordcount.wasm --name wordcount && weft submit wordcount 'wordcount(["a b a", "b c"])' --wait`
//! (or, over a file in the object store: `weft submit wordcount "count-object(@$(weft put book.txt))" --wait`)
//!
//! Map-reduce over task refs: the driver submits a `count` task per chunk,
//! then `merge` tasks whose arguments are the refs of earlier tasks. The
//! cluster runs each merge once both inputs exist, passing them by value;
//! the driver only ever fetches the final result.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "example:wordcount/wordcount",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
        "weft:runtime/objects@0.2.0": weft_guest::bindings::weft::runtime::objects,
    },
});

use std::collections::BTreeMap;

use weft_guest::{IntoArgs, tasks};

struct Wordcount;

fn submit(function: &str, args: impl IntoArgs) -> ObjectRef {
    tasks::submit("wordcount", function, args)
        .unwrap_or_else(|e| panic!("cannot submit {function}: {}", e.message()))
}

/// Adds the words of `text` to `counts`.
fn tally(counts: &mut BTreeMap<String, u32>, text: &str) {
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0u32) += 1;
    }
}

impl Guest for Wordcount {
    fn count(text: String) -> Vec<(String, u32)> {
        let mut counts = BTreeMap::new();
        tally(&mut counts, &text);
        counts.into_iter().collect()
    }

    fn count_object(text: ObjectRef) -> Vec<(String, u32)> {
        let fail = |e: weft_guest::Error| -> ! {
            panic!("cannot read object {}: {}", text.id, e.message())
        };
        let size = weft_guest::objects::size(&text).unwrap_or_else(|e| fail(e));
        let mut counts = BTreeMap::new();
        // Bytes after the last word boundary of a piece wait for the next.
        let mut carry: Vec<u8> = Vec::new();
        let mut at = 0;
        while at < size {
            let piece =
                weft_guest::objects::get_range(&text, at, 1 << 20).unwrap_or_else(|e| fail(e));
            if piece.is_empty() {
                break;
            }
            at += piece.len() as u64;
            carry.extend_from_slice(&piece);
            let cut = if at < size {
                carry
                    .iter()
                    .rposition(|b| b.is_ascii_whitespace())
                    .map_or(0, |i| i + 1)
            } else {
                carry.len()
            };
            tally(&mut counts, &String::from_utf8_lossy(&carry[..cut]));
            carry.drain(..cut);
        }
        counts.into_iter().collect()
    }

    fn merge(a: Vec<(String, u32)>, b: Vec<(String, u32)>) -> Vec<(String, u32)> {
        let mut counts: BTreeMap<String, u32> = a.into_iter().collect();
        for (word, n) in b {
            *counts.entry(word).or_insert(0) += n;
        }
        counts.into_iter().collect()
    }

    fn wordcount(chunks: Vec<String>) -> Vec<(String, u32)> {
        let mut level: Vec<ObjectRef> = chunks
            .iter()
            .map(|chunk| submit("count", (chunk.as_str(),)))
            .collect();
        if level.is_empty() {
            return Vec::new();
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            let mut pairs = level.into_iter();
            while let Some(a) = pairs.next() {
                match pairs.next() {
                    Some(b) => next.push(submit("merge", (&a, &b))),
                    None => next.push(a),
                }
            }
            level = next;
        }
        let root = &level[0];
        tasks::get(root).unwrap_or_else(|e| panic!("task {} failed: {}", root.id, e.message()))
    }
}

export!(Wordcount);
