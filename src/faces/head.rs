//! Reads a response head as it was received: header names in their case and every header in its order
//! (hyper lower-cases names and groups repeated ones), and the first fault in it, named as llhttp (Node's
//! parser) names it for the same bytes.
//!
//! hyper parses the head first and drives the connection; this reads the same bytes again (kept by
//! [`super::wire::Wire`]) for what hyper does not tell: the raw header list of a good head, and which
//! `HPE_*` fault a bad one has. llhttp is stricter than hyper in a few places (a repeated
//! `Content-Length`, `Content-Length` with `Transfer-Encoding`), so a head hyper accepted may still fail
//! here, as it would in Node.

use crate::error::{Error, Hpe};

/// A good head: the status text and the headers, names and values alternating, `\n`-separated (neither
/// may contain a newline); bytes are read as latin1, as Node reads them.
pub struct RawHead {
    pub status_text: String,
    pub headers: String,
}

/// What reading the head found.
pub enum Scan {
    Head(RawHead),
    Fault(Error),
    /// The bytes end before the head does.
    Incomplete,
}

fn fault(hpe: Hpe, reason: &str) -> Scan {
    Scan::Fault(Error::parse(hpe, reason))
}

/// A table of which bytes a class allows, looked up once per byte of a head.
type ByteClass = [bool; 256];

/// The bytes in the inclusive `ranges` and in `singles`.
const fn byte_class(ranges: &[(u8, u8)], singles: &[u8]) -> ByteClass {
    let mut table = [false; 256];
    let mut r = 0;
    while r < ranges.len() {
        let (mut b, last) = ranges[r];
        while b < last {
            table[b as usize] = true;
            b += 1;
        }
        table[last as usize] = true;
        r += 1;
    }
    let mut i = 0;
    while i < singles.len() {
        table[singles[i] as usize] = true;
        i += 1;
    }
    table
}

/// Header name bytes: RFC 9110 `tchar`.
const TOKEN: ByteClass = byte_class(
    &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')],
    b"!#$%&'*+-.^_`|~",
);

/// Header value bytes Node accepts: HTAB, visible ASCII, space, and obs-text.
const VALUE: ByteClass = byte_class(&[(0x20, 0x7e), (0x80, 0xff)], b"\t");

/// Reason phrase bytes: anything but the line's end.
const REASON: ByteClass = byte_class(&[(0x00, 0xff)], b"");

/// Appends `bytes` read as latin1, as Node reads them; ASCII (the usual case) is copied whole.
fn push_latin1(text: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if ascii.is_ascii() => text.push_str(ascii),
        _ => text.extend(bytes.iter().map(|&b| char::from(b))),
    }
}

/// Reads the final response head from `bytes`, skipping informational (1xx) heads as hyper does.
pub fn scan(bytes: &[u8], max_head: usize) -> Scan {
    let mut at = 0;
    loop {
        match scan_one(&bytes[at..], max_head) {
            Ok((status, _, used)) if (100..200).contains(&status) && status != 101 => at += used,
            Ok((_, head, _)) => return Scan::Head(head),
            // Cut off at the parser's limit: the head is too large.
            Err(Scan::Incomplete) if bytes.len() > max_head => {
                return fault(Hpe::HeaderOverflow, "Header overflow")
            }
            Err(scan) => return scan,
        }
    }
}

/// One head: its status, the head, and the bytes it took.
fn scan_one(bytes: &[u8], max_head: usize) -> Result<(u16, RawHead, usize), Scan> {
    let mut cursor = Cursor { bytes, at: 0 };
    let status = cursor.status_line()?;
    let status_text = cursor.reason()?;
    let mut headers = String::with_capacity(bytes.len().min(max_head));
    let mut content_length = false;
    let mut transfer_encoding = false;
    loop {
        if cursor.at > max_head {
            return Err(fault(Hpe::HeaderOverflow, "Header overflow"));
        }
        match cursor.peek()? {
            b'\r' => {
                cursor.line_end()?;
                break;
            }
            b' ' | b'\t' => {
                return Err(fault(
                    Hpe::InvalidHeaderToken,
                    "Unexpected whitespace after header value",
                ))
            }
            _ => {}
        }
        let name = cursor.header_name()?;
        let value = cursor.header_value()?;
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length {
                return Err(fault(
                    Hpe::UnexpectedContentLength,
                    "Duplicate Content-Length",
                ));
            }
            if transfer_encoding {
                return Err(fault(
                    Hpe::InvalidContentLength,
                    "Content-Length can't be present with Transfer-Encoding",
                ));
            }
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Err(fault(
                    Hpe::InvalidContentLength,
                    "Invalid character in Content-Length",
                ));
            }
            content_length = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if content_length {
                return Err(fault(
                    Hpe::InvalidTransferEncoding,
                    "Transfer-Encoding can't be present with Content-Length",
                ));
            }
            transfer_encoding = true;
        }
        if !headers.is_empty() {
            headers.push('\n');
        }
        push_latin1(&mut headers, name);
        headers.push('\n');
        push_latin1(&mut headers, value);
    }
    let head = RawHead {
        status_text,
        headers,
    };
    Ok((status, head, cursor.at))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Result<u8, Scan> {
        self.bytes.get(self.at).copied().ok_or(Scan::Incomplete)
    }

    fn next(&mut self) -> Result<u8, Scan> {
        let b = self.peek()?;
        self.at += 1;
        Ok(b)
    }

    fn digit(&mut self, hpe: Hpe, reason: &str) -> Result<u16, Scan> {
        match self.next()? {
            b @ b'0'..=b'9' => Ok(u16::from(b - b'0')),
            _ => Err(fault(hpe, reason)),
        }
    }

    /// `HTTP/x.y NNN`, leaving the cursor on what follows the code.
    fn status_line(&mut self) -> Result<u16, Scan> {
        for &expected in b"HTTP/" {
            if self.next()? != expected {
                return Err(fault(Hpe::InvalidConstant, "Expected HTTP/, RTSP/ or ICE/"));
            }
        }
        self.digit(Hpe::InvalidVersion, "Invalid major version")?;
        if self.next()? != b'.' {
            return Err(fault(Hpe::InvalidVersion, "Expected dot"));
        }
        self.digit(Hpe::InvalidVersion, "Invalid minor version")?;
        if self.next()? != b' ' {
            return Err(fault(Hpe::InvalidVersion, "Expected space after version"));
        }
        let mut status = 0;
        for _ in 0..3 {
            status = status * 10 + self.digit(Hpe::InvalidStatus, "Invalid status code")?;
        }
        Ok(status)
    }

    /// The reason phrase and the end of the status line.
    fn reason(&mut self) -> Result<String, Scan> {
        match self.next()? {
            b' ' => {}
            b'\r' => {
                self.at -= 1;
                self.line_end()?;
                return Ok(String::new());
            }
            b'\n' => {
                return Err(fault(
                    Hpe::CrExpected,
                    "Missing expected CR after response line",
                ))
            }
            _ => return Err(fault(Hpe::InvalidStatus, "Invalid status code")),
        }
        let mut reason = String::new();
        push_latin1(&mut reason, self.until_cr("response line", &REASON)?);
        self.line_end()?;
        Ok(reason)
    }

    /// The rest of a line, up to its CR, whose bytes must be in `allowed`; a bare LF ends it too early.
    fn until_cr(&mut self, line: &str, allowed: &ByteClass) -> Result<&'a [u8], Scan> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n' || !allowed[usize::from(b)])
            .ok_or(Scan::Incomplete)?;
        self.at += end;
        match rest[end] {
            b'\r' => Ok(&rest[..end]),
            b'\n' => {
                let reason = format!("Missing expected CR after {line}");
                Err(fault(Hpe::CrExpected, &reason))
            }
            _ => Err(fault(Hpe::InvalidHeaderToken, "Invalid header value char")),
        }
    }

    /// CRLF.
    fn line_end(&mut self) -> Result<(), Scan> {
        if self.next()? != b'\r' {
            return Err(fault(
                Hpe::CrExpected,
                "Missing expected CR after header value",
            ));
        }
        if self.next()? != b'\n' {
            return Err(fault(
                Hpe::LfExpected,
                "Missing expected LF after header value",
            ));
        }
        Ok(())
    }

    /// A header name and its colon.
    fn header_name(&mut self) -> Result<&'a [u8], Scan> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| !TOKEN[usize::from(b)])
            .ok_or(Scan::Incomplete)?;
        if rest[end] != b':' || end == 0 {
            return Err(fault(Hpe::InvalidHeaderToken, "Invalid header token"));
        }
        self.at += end + 1;
        Ok(&rest[..end])
    }

    /// A header value without the whitespace around it, and its line end.
    fn header_value(&mut self) -> Result<&'a [u8], Scan> {
        while matches!(self.peek()?, b' ' | b'\t') {
            self.at += 1;
        }
        let start = self.at;
        self.until_cr("header value", &VALUE)?;
        let mut end = self.at;
        while end > start && matches!(self.bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        self.line_end()?;
        Ok(&self.bytes[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(bytes: &str) -> &'static str {
        match scan(bytes.as_bytes(), 1024) {
            Scan::Fault(e) => e.code(),
            Scan::Head(_) => "ok",
            Scan::Incomplete => "incomplete",
        }
    }

    #[test]
    fn keeps_case_order_and_latin1() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Fine \xe9\r\nX-A: 1\r\nx-b:  two  \r\nX-A: \xff\r\n\r\nbody";
        let Scan::Head(head) = scan(bytes, 1024) else {
            panic!("a good head")
        };
        assert_eq!(head.status_text, "Fine \u{e9}");
        assert_eq!(head.headers, "X-A\n1\nx-b\ntwo\nX-A\n\u{ff}");
    }

    /// Each as llhttp names it (checked against Node in __test__/promise-parse.test.js).
    #[test]
    fn faults_are_named_as_llhttp_names_them() {
        let cases = [
            ("HTPT/1.1 200 OK\r\n\r\n", "HPE_INVALID_CONSTANT"),
            ("HTTP/1.x 200 OK\r\n\r\n", "HPE_INVALID_VERSION"),
            ("HTTP/1.1 2x0 OK\r\n\r\n", "HPE_INVALID_STATUS"),
            (
                "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "HPE_INVALID_HEADER_TOKEN",
            ),
            (
                "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
                "HPE_INVALID_HEADER_TOKEN",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                "HPE_INVALID_CONTENT_LENGTH",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                "HPE_UNEXPECTED_CONTENT_LENGTH",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HPE_INVALID_TRANSFER_ENCODING",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                "HPE_INVALID_CONTENT_LENGTH",
            ),
            ("HTTP/1.1 200 OK\nX: y\n\n", "HPE_CR_EXPECTED"),
            ("HTTP/1.1 200 OK\r\nX: y\rZ: w\r\n\r\n", "HPE_LF_EXPECTED"),
            (
                "HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n",
                "HPE_INVALID_HEADER_TOKEN",
            ),
            ("HTTP/1.1 200 OK\r\nX: y", "incomplete"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(code(bytes), expected, "{bytes:?}");
        }
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(code(&big), "HPE_HEADER_OVERFLOW");
    }
}
