//! TLS for the fd carrier: a connection whose handshake rustls made on the tokio thread, and whose fd
//! then went to JS. libuv moves the ciphertext on the JS thread; JS hands each chunk that came here to be
//! opened and each chunk to send here to be sealed, in one synchronous call each. A request at low
//! concurrency over https then costs no thread hop, as over plain TCP: the pipe carrier's hops (JS to the
//! connection's task on the tokio thread, and what it reads back to JS) cost more than the loopback round
//! trip itself.
//!
//! This module owns the rustls sessions of those connections, by connection id, from the hand-over until
//! JS reports the fd closed.

use std::io::{BufRead, Write};
use std::sync::{Mutex, MutexGuard};

use rustls::ClientConnection;

use crate::error::{Error, Result};
use crate::pool::{ConnId, IdMap};

/// What a chunk of records gave besides its plaintext (which goes to a [`Room`]).
#[derive(Default)]
pub struct Opened {
    /// Records rustls must send in answer (a key update, an alert).
    pub reply: Vec<u8>,
    /// The server sent close_notify: it has finished sending.
    pub closed: bool,
    /// The records failed (a damaged one): `reply` holds rustls's alert, to send before the connection
    /// is torn down, and what the chunk carried before the failure is given up with the connection.
    pub failure: Option<Error>,
}

/// Where bytes for JS go (what opened records carry, or the records that seal a chunk), in order: into
/// the `room` JS lends (one buffer for every call, used up before the next: a Buffer made in Rust per chunk
/// cost 2 µs of a 50 µs request over https one at a time), or, should they not fit there, all of them into
/// a `Vec` of their own.
pub struct Room<'a> {
    room: &'a mut [u8],
    len: usize,
    spilled: Option<Vec<u8>>,
}

/// Where the bytes put in a [`Room`] ended up.
pub enum Placed {
    /// The first `n` bytes of the room.
    Room(usize),
    Spilled(Vec<u8>),
}

impl<'a> Room<'a> {
    pub fn new(room: &'a mut [u8]) -> Self {
        Room {
            room,
            len: 0,
            spilled: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if let Some(spilled) = &mut self.spilled {
            spilled.extend_from_slice(bytes);
        } else if let Some(free) = self.room.get_mut(self.len..self.len + bytes.len()) {
            free.copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            let mut spilled = Vec::with_capacity(self.len + bytes.len());
            spilled.extend_from_slice(&self.room[..self.len]);
            spilled.extend_from_slice(bytes);
            self.spilled = Some(spilled);
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spilled = None;
    }

    pub fn placed(self) -> Placed {
        match self.spilled {
            Some(spilled) => Placed::Spilled(spilled),
            None => Placed::Room(self.len),
        }
    }

    /// The bytes, wherever they are.
    pub fn bytes(&self) -> &[u8] {
        self.spilled.as_deref().unwrap_or(&self.room[..self.len])
    }
}

impl Write for Room<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.push(bytes);
        Ok(bytes.len())
    }

    /// Every slice at once: rustls hands its queued records over in one call (`write_tls`), not one
    /// record per call as the default would take them.
    fn write_vectored(&mut self, slices: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let mut total = 0;
        for slice in slices {
            self.push(slice);
            total += slice.len();
        }
        Ok(total)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rustls sessions of fd-carried TLS connections.
#[derive(Default)]
pub struct Sealed(Mutex<IdMap<ClientConnection>>);

impl Sealed {
    fn sessions(&self) -> MutexGuard<'_, IdMap<ClientConnection>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, id: ConnId, session: ClientConnection) {
        self.sessions().insert(id, session);
    }

    pub fn remove(&self, id: ConnId) {
        self.sessions().remove(&id);
    }

    fn with<T>(&self, id: ConnId, f: impl FnOnce(&mut ClientConnection) -> Result<T>) -> Result<T> {
        let mut sessions = self.sessions();
        let session = sessions
            .get_mut(&id)
            .ok_or_else(|| Error::new(crate::error::Kind::ConnectionReset, "socket destroyed"))?;
        f(session)
    }

    /// Opens the records in `ciphertext` (any cut: a record split across chunks waits in rustls); what
    /// they carry goes to `plaintext`.
    pub fn open(
        &self,
        id: ConnId,
        mut ciphertext: &[u8],
        plaintext: &mut Room<'_>,
    ) -> Result<Opened> {
        self.with(id, |session| {
            let mut opened = Opened::default();
            let failure = loop {
                if ciphertext.is_empty() {
                    break None;
                }
                match session.read_tls(&mut ciphertext) {
                    // After close_notify rustls takes nothing more: what follows is dropped.
                    Ok(0) => break None,
                    Ok(_) => {}
                    Err(e) => break Some(e),
                }
                let state = match session.process_new_packets() {
                    Ok(state) => state,
                    Err(e) => break Some(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
                };
                if let Err(e) = take_plaintext(session, state.plaintext_bytes_to_read(), plaintext)
                {
                    break Some(e);
                }
                opened.closed |= state.peer_has_closed();
            };
            // An alert for a failure goes out before the connection is torn down, as over the pipe.
            flush(session, &mut opened.reply)?;
            if let Some(e) = failure {
                plaintext.clear();
                opened.failure = Some(Error::from_io(&e, "read"));
            }
            Ok(opened)
        })
    }

    /// Seals `plaintext` into records to send, put in `records`.
    pub fn seal(&self, id: ConnId, mut plaintext: &[u8], records: &mut Room<'_>) -> Result<()> {
        self.with(id, |session| {
            while !plaintext.is_empty() {
                let n = session
                    .writer()
                    .write(plaintext)
                    .map_err(|e| Error::from_io(&e, "write"))?;
                plaintext = &plaintext[n..];
                flush(session, records)?;
            }
            Ok(())
        })
    }

    /// close_notify, to send before the FIN.
    pub fn close(&self, id: ConnId) -> Result<Vec<u8>> {
        self.with(id, |session| {
            session.send_close_notify();
            let mut records = Vec::new();
            flush(session, &mut records)?;
            Ok(records)
        })
    }
}

/// Appends the `n` bytes of plaintext rustls holds to `out`, copied from its buffers as they are: reading
/// them into room made in a `Vec` would zero that room first (a 64 KiB body over https one at a time: the
/// zeroing was 2 % of the process's cycles).
fn take_plaintext(
    session: &mut ClientConnection,
    mut n: usize,
    out: &mut Room<'_>,
) -> std::io::Result<()> {
    let mut reader = session.reader();
    while n > 0 {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let take = chunk.len().min(n);
        out.push(&chunk[..take]);
        reader.consume(take);
        n -= take;
    }
    Ok(())
}

/// Appends what rustls has to send to `out`.
fn flush(session: &mut ClientConnection, out: &mut impl Write) -> Result<()> {
    while session.wants_write() {
        session
            .write_tls(out)
            .map_err(|e| Error::from_io(&e, "write"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Arc;

    /// A client session (in a [`Sealed`], as connection 7) and a server session over memory, handshaken.
    fn pair() -> (Sealed, rustls::ServerConnection) {
        use rustls::pki_types::pem::PemObject;
        // A self-signed certificate for localhost, valid until 2126 (made with openssl for these tests).
        let cert = rustls::pki_types::CertificateDer::from_pem_slice(include_bytes!(
            "testdata/localhost.pem"
        ))
        .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(include_bytes!(
            "testdata/localhost.key"
        ))
        .unwrap();
        let server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(Arc::new(client_config), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        server.set_buffer_limit(None);
        let sealed = Sealed::default();
        sealed.insert(7, client);
        (sealed, server)
    }

    /// What one side seals the other opens, cut anywhere; close_notify ends it.
    #[test]
    fn seals_and_opens_across_cuts_and_closes() {
        let (sealed, mut server) = pair();
        // Client to server: 100 KiB in records of at most 16 KiB (more than the room: they spill), then a
        // short chunk (its records fit the room).
        let request: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
        let mut room = vec![0u8; 64 * 1024];
        let mut records = Room::new(&mut room);
        sealed.seal(7, &request, &mut records).unwrap();
        let Placed::Spilled(records) = records.placed() else {
            panic!("100 KiB of records fit a room of 64 KiB")
        };
        let mut short = Room::new(&mut room);
        sealed.seal(7, b"short", &mut short).unwrap();
        let Placed::Room(n) = short.placed() else {
            panic!("a short chunk's records spilled")
        };
        let mut got = Vec::new();
        for mut rest in [records.as_slice(), &room[..n]] {
            while !rest.is_empty() {
                server.read_tls(&mut rest).unwrap();
                server.process_new_packets().unwrap();
                let _ = server.reader().read_to_end(&mut got);
            }
        }
        assert_eq!(got, [request.as_slice(), b"short"].concat());

        // Server to client, cut at every 1,000 bytes for its first half (each record, 16 KiB at most, fits
        // the room), the rest in one cut (more than fits: it spills); then close_notify.
        server.writer().write_all(&request).unwrap();
        server.send_close_notify();
        let mut wire = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut wire).unwrap();
        }
        let (first, rest) = wire.split_at(wire.len() / 2);
        let mut room = [0u8; 20_000];
        let (mut opened, mut closed, mut in_room, mut spills) = (Vec::new(), false, 0, 0);
        for cut in first.chunks(1000).chain([rest]) {
            let mut plaintext = Room::new(&mut room);
            closed |= sealed.open(7, cut, &mut plaintext).unwrap().closed;
            match plaintext.placed() {
                Placed::Room(n) => {
                    in_room += n;
                    opened.extend_from_slice(&room[..n]);
                }
                Placed::Spilled(bytes) => {
                    spills += 1;
                    opened.extend(bytes);
                }
            }
        }
        assert_eq!(opened, request);
        assert!(closed);
        assert!(
            in_room >= 16 * 1024 && spills == 1,
            "{in_room} in the room, {spills} spilled"
        );

        // After close_notify nothing more is taken; a removed session is a destroyed socket.
        let mut plaintext = Room::new(&mut []);
        sealed.open(7, b"trailing", &mut plaintext).unwrap();
        assert!(plaintext.bytes().is_empty());
        sealed.remove(7);
        assert_eq!(
            sealed
                .seal(7, b"x", &mut Room::new(&mut []))
                .err()
                .unwrap()
                .kind(),
            crate::error::Kind::ConnectionReset
        );
    }

    /// A damaged record fails the read, and rustls's alert comes with the failure, to go out first: the
    /// server reads it as the alert it is.
    #[test]
    fn a_damaged_record_fails_with_its_alert() {
        let (sealed, mut server) = pair();
        server.writer().write_all(b"hello").unwrap();
        let mut wire = Vec::new();
        server.write_tls(&mut wire).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let mut room = [0u8; 100];
        let mut plaintext = Room::new(&mut room);
        let opened = sealed.open(7, &wire, &mut plaintext).unwrap();
        let err = opened.failure.expect("a failure");
        assert!(err.to_string().contains("cannot decrypt"), "{err}");
        assert!(plaintext.bytes().is_empty());
        assert!(!opened.reply.is_empty(), "an alert to send");
        server.read_tls(&mut opened.reply.as_slice()).unwrap();
        let alert = server
            .process_new_packets()
            .expect_err("the server reads an alert");
        assert!(
            matches!(
                alert,
                rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)
            ),
            "{alert:?}"
        );
    }
}
