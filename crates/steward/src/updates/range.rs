//! HTTP Range requests (RFC 9110 §14) for payload downloads, as plain data: what
//! part of a resource of a known length a `Range` header asks for.

/// What to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole resource (no Range header, or one this server ignores, as
    /// RFC 9110 §14.2 allows: other units, several ranges).
    Full,
    /// 206 Partial Content: bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416 Range Not Satisfiable (RFC 9110 §15.5.17).
    Unsatisfiable,
}

/// Interpret a `Range` header value for a resource of `len` bytes.
///
/// Grammar (RFC 9110 §14.1.2): `bytes=first-last`, `bytes=first-`, `bytes=-suffix`.
/// A syntactically invalid header is ignored (§14.2: "a server MAY ignore the
/// Range header field"), a valid one that selects nothing is unsatisfiable.
pub fn answer(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(h) = header else {
        return RangeAnswer::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        // Multipart ranges: serve the whole payload instead.
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    match (first.trim(), last.trim()) {
        ("", suffix) if digits(suffix) => {
            let Ok(n) = suffix.parse::<u64>() else {
                return RangeAnswer::Full;
            };
            if n == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        (f, l) if digits(f) && (l.is_empty() || digits(l)) => {
            let (Ok(start), end) = (f.parse::<u64>(), l.parse::<u64>().ok()) else {
                return RangeAnswer::Full;
            };
            if let Some(e) = end
                && e < start
            {
                // §14.1.1: last < first makes the range invalid: ignore it.
                return RangeAnswer::Full;
            }
            if start >= len {
                return RangeAnswer::Unsatisfiable;
            }
            let end = end.map_or(len - 1, |e| e.min(len - 1));
            RangeAnswer::Partial { start, end }
        }
        _ => RangeAnswer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_writes_them() {
        assert_eq!(answer(None, 10), RangeAnswer::Full);
        assert_eq!(
            answer(Some("bytes=0-4"), 10),
            RangeAnswer::Partial { start: 0, end: 4 }
        );
        assert_eq!(
            answer(Some("bytes=5-"), 10),
            RangeAnswer::Partial { start: 5, end: 9 }
        );
        assert_eq!(
            answer(Some("bytes=-3"), 10),
            RangeAnswer::Partial { start: 7, end: 9 }
        );
        assert_eq!(
            answer(Some("bytes=-30"), 10),
            RangeAnswer::Partial { start: 0, end: 9 }
        );
        assert_eq!(
            answer(Some("bytes=8-100"), 10),
            RangeAnswer::Partial { start: 8, end: 9 }
        );
        assert_eq!(answer(Some("bytes=10-"), 10), RangeAnswer::Unsatisfiable);
        assert_eq!(answer(Some("bytes=-0"), 10), RangeAnswer::Unsatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), RangeAnswer::Unsatisfiable);
    }

    #[test]
    fn odd_headers_are_ignored() {
        for h in [
            "items=0-1",
            "bytes=5-2",
            "bytes=0-1,3-4",
            "bytes=x-",
            "bytes=-",
            "bytes=99999999999999999999999-",
            "bytes=+1-2",
        ] {
            assert_eq!(answer(Some(h), 10), RangeAnswer::Full, "{h}");
        }
    }
}
