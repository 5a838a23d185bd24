//! TLS client configuration with rustls, shared per distinct set of options.
//!
//! Building a `ClientConfig` parses a root store; doing it once per set of options (not once per agent or
//! connection) keeps agent construction cheap and lets every agent with the same options share one TLS
//! session cache, so reconnects resume sessions. Verification follows Node's `https.Agent`: the default
//! roots are what Node trusts (its bundled roots plus `NODE_EXTRA_CA_CERTS`, handed over once by the JS
//! side with [`set_default_roots`]; Mozilla's set in Rust tests), `ca` replaces them,
//! `rejectUnauthorized: false` accepts any certificate, and a certificate passed in `ca` is trusted as
//! the server's own certificate even when it is marked as a CA — which is what `openssl req -x509` makes
//! and what Node accepts, but webpki refuses (`CaUsedAsEndEntity`). Host name and validity dates are
//! still checked in that case. The host name is matched as Node's `tls.checkServerIdentity` does: by the
//! subjectAltName, or by the subject's CN when the certificate names no DNS altname; a caller's
//! `checkServerIdentity` replaces that check (see `Connector`). webpki keeps only a trust anchor's name
//! and key, so what OpenSSL also checks of a trusted certificate is checked here: it is an issuer only
//! where OpenSSL would take it as one (a CA by its extensions, or a v1 root), and within its validity.
//! An X.509 v1 leaf, which webpki does not parse, is verified against the trusted certificate that
//! issued it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::short_rsa;
use crate::error::{Error, Kind, Result};

/// The TLS options of `https.Agent` that this agent honours. PEM inputs are kept as bytes so that equal
/// options compare equal and share one [`ClientConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// PEM blocks of trusted certificates, which replace the default roots; `None`: the default roots
    /// (an empty list trusts nothing, as Node's).
    pub ca: Option<Vec<Vec<u8>>>,
    /// PEM blocks of the client certificate chain.
    pub cert: Vec<Vec<u8>>,
    /// PEM private key of the client certificate.
    pub key: Option<Vec<u8>>,
    pub reject_unauthorized: bool,
    /// `None`: both TLS 1.2 and 1.3.
    pub only_version: Option<TlsVersion>,
    /// The `servername` option: SNI and the name verified, instead of the URL's host (`""`: no SNI,
    /// the host's name verified).
    pub servername: Option<String>,
    /// The caller's `checkServerIdentity` checks the host name instead of us.
    pub names_by_caller: bool,
    /// A PKCS#12 bundle of the client certificate chain and key, and its passphrase.
    pub pfx: Option<Vec<u8>>,
    pub passphrase: Option<String>,
    /// An OpenSSL cipher string (see `with_ciphers`).
    pub ciphers: Option<String>,
    /// Node's OpenSSL has a suite that `ciphers` names outright (`AES256-SHA`): Node's list is then not
    /// empty, so a string selecting none of rustls's TLS 1.2 suites leaves TLS 1.3's instead of failing.
    pub openssl_names: bool,
    /// Node's `ecdhCurve` other than `'auto'`: the key exchange groups offered, by OpenSSL's names, in
    /// order (see [`with_curves`]).
    pub curves: Option<String>,
    /// Node's `sigalgs`: the handshake signature schemes offered, by OpenSSL's names, in order (see
    /// [`signature_schemes`]).
    pub sigalgs: Option<String>,
    /// The protocols offered by ALPN (Node's `ALPNProtocols`); `None`: `http/1.1`, the one spoken.
    pub alpn: Option<Vec<Vec<u8>>>,
    pub sessions: SessionCache,
    /// Node's `requestOCSP`: each handshake keeps what the server stapled (see [`Stapled`]).
    pub request_ocsp: bool,
}

/// Whose TLS sessions a config resumes, and how many it keeps. As in Node, each agent has a cache of
/// its own (`maxCachedSessions`, 100 by default; 0: none): a session made through one agent is never
/// resumed through another, so two agents (two tenants, two identities) are not linked by a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionCache {
    /// The agent (its pool) that owns the cache; 0 for none in particular.
    pub owner: u64,
    pub size: usize,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            owner: 0,
            size: 100,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgValue, message)
}

/// Node's default trust: the roots, the same certificates as DER (for a server whose own self-signed
/// certificate is among them: OpenSSL accepts that, webpki does not; see [`Trust`]), and the trusted
/// certificates that issue but are no roots (see [`trusted_links`]).
struct DefaultTrust {
    roots: Arc<RootCertStore>,
    certs: Arc<Vec<CertificateDer<'static>>>,
    links: Arc<Vec<CertificateDer<'static>>>,
}

/// Parsed once per process.
static DEFAULT_TRUST: OnceLock<DefaultTrust> = OnceLock::new();

/// Sets the roots used when no `ca` is given: the PEM certificates Node trusts by default. Only the
/// first call counts (Node reads its default set once, at startup, too).
pub fn set_default_roots(pems: &[u8]) {
    DEFAULT_TRUST.get_or_init(|| {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(pems).flatten().collect();
        DefaultTrust {
            roots: Arc::new(trust_anchors(&certs)),
            links: Arc::new(trusted_links(&certs)),
            certs: Arc::new(certs),
        }
    });
}

/// The trusted roots that may issue others, as webpki's anchors. webpki takes an anchor's key and name
/// only, so a certificate OpenSSL would refuse as an issuer (see [`unsuitable_issuer`]) is left out:
/// given in `ca` to pin one server, a leaf must not vouch for every name its key signs. Such a
/// certificate, and one webpki cannot use (OpenSSL skips unusable ones too), is still trusted as the
/// server's own if it is self-signed (see [`Trust`]). A trusted certificate issued by another (an
/// intermediate CA) is no anchor either: OpenSSL (without its partial-chain flag, which Node does not
/// set) trusts a chain only up to a trusted root, so such a certificate is a link towards one (see
/// [`trusted_links`]) and ends no chain by itself.
fn trust_anchors(certs: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in certs
        .iter()
        .filter(|c| der::is_self_issued(c) && unsuitable_issuer(c).is_none())
    {
        let _ = roots.add(cert.clone());
    }
    roots
}

/// The trusted certificates that may issue others but are no roots: OpenSSL finds a chain's issuers
/// among the trusted certificates too, so these complete a chain whose server left them out.
fn trusted_links(certs: &[CertificateDer<'static>]) -> Vec<CertificateDer<'static>> {
    certs
        .iter()
        .filter(|c| !der::is_self_issued(c) && unsuitable_issuer(c).is_none())
        .cloned()
        .collect()
}

fn default_trust() -> &'static DefaultTrust {
    DEFAULT_TRUST.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        DefaultTrust {
            roots: Arc::new(roots),
            certs: Arc::default(),
            links: Arc::default(),
        }
    })
}

/// Returns the config for `options`, building it only when no live profile of the same agent (see
/// [`SessionCache`]) already holds one.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    static CACHE: OnceLock<Mutex<HashMap<TlsOptions, Weak<ClientConfig>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(config) = cache.get(options).and_then(Weak::upgrade) {
        return Ok(config);
    }
    let config = Arc::new(build(options)?);
    cache.retain(|_, weak| weak.strong_count() > 0);
    cache.insert(options.clone(), Arc::downgrade(&config));
    Ok(config)
}

fn parse_certs(pems: &[Vec<u8>], option: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for pem in pems {
        for cert in CertificateDer::pem_slice_iter(pem) {
            certs.push(cert.map_err(|e| {
                invalid(format!(
                    "The \"{option}\" option holds an unreadable certificate: {e}"
                ))
            })?);
        }
    }
    if certs.is_empty() && !pems.is_empty() {
        return Err(invalid(format!(
            "The \"{option}\" option holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// A TLS 1.2 suite rustls implements, with what OpenSSL's cipher-string words match in it.
struct Tls12Suite {
    /// OpenSSL's name (`ECDHE-RSA-AES128-GCM-SHA256`).
    name: String,
    suite: rustls::SupportedCipherSuite,
    /// `aECDSA` or `aRSA`.
    auth: &'static str,
    /// OpenSSL's encryption words for it (`AESGCM`, `AES128`, ...), and its digest (`SHA256`).
    enc: [&'static str; 3],
    digest: &'static str,
}

/// The six, in OpenSSL's own order of preference (`openssl ciphers -v DEFAULT`): by cipher, each with
/// an ECDSA then an RSA key.
fn tls12_suites() -> Vec<Tls12Suite> {
    use rustls::crypto::ring::cipher_suite as suite;
    let ciphers = [
        (
            "AES256-GCM-SHA384",
            ["AESGCM", "AES256", "AES"],
            "SHA384",
            [
                suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            ],
        ),
        (
            "CHACHA20-POLY1305",
            ["CHACHA20"; 3],
            "SHA256",
            [
                suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ],
        ),
        (
            "AES128-GCM-SHA256",
            ["AESGCM", "AES128", "AES"],
            "SHA256",
            [
                suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ],
        ),
    ];
    ciphers
        .into_iter()
        .flat_map(|(cipher, enc, digest, [ecdsa, rsa])| {
            [("ECDSA", ecdsa), ("RSA", rsa)].map(|(key, suite)| Tls12Suite {
                name: format!("ECDHE-{key}-{cipher}"),
                suite,
                auth: if key == "RSA" { "aRSA" } else { "aECDSA" },
                enc,
                digest,
            })
        })
        .collect()
}

impl Tls12Suite {
    /// Whether OpenSSL's word `word` (a name, or an alias such as `HIGH`, `ECDHE`, `aRSA`, `AESGCM`)
    /// takes in this suite.
    fn is(&self, word: &str) -> bool {
        match word {
            "ALL" | "DEFAULT" | "HIGH" | "AEAD" | "TLSv1.2" | "ECDHE" | "EECDH" | "kECDHE"
            | "kEECDH" => true,
            "ECDSA" => self.auth == "aECDSA",
            _ => {
                word == self.name
                    || word == self.auth
                    || word == self.digest
                    || self.enc.contains(&word)
            }
        }
    }
}

/// The TLS 1.3 suites rustls implements, by their (IANA and OpenSSL) names.
fn tls13_suites() -> [(&'static str, rustls::SupportedCipherSuite); 3] {
    use rustls::crypto::ring::cipher_suite as suite;
    [
        ("TLS_AES_256_GCM_SHA384", suite::TLS13_AES_256_GCM_SHA384),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            suite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        ("TLS_AES_128_GCM_SHA256", suite::TLS13_AES_128_GCM_SHA256),
    ]
}

/// The suites an OpenSSL cipher string (`ciphers`) selects among those rustls implements, read as
/// Node and OpenSSL read it. As Node does, the `TLS_...` names choose the TLS 1.3 suites (which stay
/// rustls's own when none is named) and the other words the TLS 1.2 ones (none is spoken when none is
/// left: `TLS_AES_128_GCM_SHA256` alone means TLS 1.3 only). The TLS 1.2 words are OpenSSL's: separated
/// by `:`, `,` or spaces; `A+B` is what both match; `!` removes for good, `-` removes, `+` moves to the
/// end, a bare word adds; `@STRENGTH`, `@SECLEVEL=n` change nothing here (rustls has no weak suite).
/// Words for suites rustls lacks (`AES256-SHA`, `kRSA`) match nothing, as unknown words do in OpenSSL;
/// a string that selects nothing at all fails as OpenSSL's "no cipher match" does, and an empty one
/// means the defaults, as in Node. Node's OpenSSL may select suites rustls lacks (`openssl_names`, see
/// [`TlsOptions`]): then, as there, the string only takes TLS 1.2 away, and TLS 1.3 keeps its suites.
fn with_ciphers(ciphers: &str, openssl_names: bool) -> Result<Arc<CryptoProvider>> {
    let tls12 = tls12_suites();
    let tls13 = tls13_suites();
    let mut words = 0;
    let mut suites = Vec::new();
    // Indexes into `tls12`, in order; `killed` can never come back.
    let mut chosen12: Vec<usize> = Vec::new();
    let mut killed = vec![false; tls12.len()];
    for word in ciphers
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        words += 1;
        // `ALL@SECLEVEL=0`: a directive may follow a word.
        let word = word.split('@').next().unwrap_or_default();
        if word.is_empty() {
            continue;
        }
        if word.starts_with("TLS_") {
            if let Some((_, suite)) = tls13.iter().find(|(name, _)| *name == word) {
                suites.push(*suite);
            }
            continue;
        }
        let (op, rule) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (b'=', word),
        };
        for i in (0..tls12.len()).filter(|&i| rule.split('+').all(|part| tls12[i].is(part))) {
            let at = chosen12.iter().position(|&c| c == i);
            match (op, at) {
                (b'!', _) => {
                    killed[i] = true;
                    chosen12.retain(|&c| c != i);
                }
                (b'-', _) => chosen12.retain(|&c| c != i),
                (b'+', Some(at)) => {
                    chosen12.remove(at);
                    chosen12.push(i);
                }
                (b'=', None) if !killed[i] => chosen12.push(i),
                _ => {}
            }
        }
    }
    // Node's: an empty string means the defaults, separators alone are refused.
    if words == 0 && ciphers.is_empty() {
        return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    } else if words == 0 {
        return Err(invalid(format!(
            "The property 'options.ciphers' is invalid. Received {ciphers:?}"
        )));
    }
    let named13 = !suites.is_empty();
    suites.extend(chosen12.iter().map(|&i| tls12[i].suite));
    if suites.is_empty() && !openssl_names {
        return Err(no_cipher_match(ciphers));
    }
    // As Node's ciphersuites: TLS 1.3 keeps its own unless the string names some.
    if !named13 {
        suites.splice(0..0, tls13.iter().map(|(_, s)| *s));
    }
    Ok(Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    }))
}

/// The key exchange groups of an `ecdhCurve` list (`'P-384:X25519'`), by OpenSSL's names and NIST's, in
/// the order given. A name OpenSSL knows and rustls lacks (`secp521r1`, `X448`, `ffdhe2048`) offers
/// nothing, as an unknown one; a list that leaves none is refused, since OpenSSL fails on every name it
/// cannot set.
fn with_curves(provider: &CryptoProvider, curves: &str) -> Result<CryptoProvider> {
    use rustls::NamedGroup;
    let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for name in curves.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        let wanted = match name.to_ascii_lowercase().as_str() {
            "x25519" => NamedGroup::X25519,
            "p-256" | "prime256v1" | "secp256r1" => NamedGroup::secp256r1,
            "p-384" | "secp384r1" => NamedGroup::secp384r1,
            _ => continue,
        };
        let offered = provider.kx_groups.iter().find(|g| g.name() == wanted);
        if let (Some(group), false) = (offered, groups.iter().any(|g| g.name() == wanted)) {
            groups.push(*group);
        }
    }
    if groups.is_empty() {
        return Err(invalid(format!(
            "The property 'options.ecdhCurve' names no curve rustls offers (X25519, P-256, P-384). Received {curves:?}"
        )));
    }
    Ok(CryptoProvider {
        kx_groups: groups,
        ..provider.clone()
    })
}

/// The handshake signature schemes of a `sigalgs` list, in the order given, among `offered`: OpenSSL's
/// names (`RSA+SHA256`, `RSA-PSS+SHA256` or `PSS+SHA256`, `ECDSA+SHA256`, `ed25519`) or TLS's
/// (`rsa_pss_rsae_sha256`, `ecdsa_secp256r1_sha256`). A name rustls does not verify (SHA-1, ed448, the
/// `rsa_pss_pss_*` schemes) offers nothing; a list that leaves none is refused, as is a name nobody has
/// (OpenSSL throws for one).
fn signature_schemes(sigalgs: &str, offered: &[SignatureScheme]) -> Result<Vec<SignatureScheme>> {
    use SignatureScheme as S;
    let refused = |why: &str| {
        invalid(format!(
            "The property 'options.sigalgs' {why}. Received {sigalgs:?}"
        ))
    };
    let mut schemes = Vec::new();
    for name in sigalgs.split(':').map(str::trim) {
        let named: &[S] = match name.to_ascii_lowercase().as_str() {
            "rsa+sha256" | "rsa_pkcs1_sha256" => &[S::RSA_PKCS1_SHA256],
            "rsa+sha384" | "rsa_pkcs1_sha384" => &[S::RSA_PKCS1_SHA384],
            "rsa+sha512" | "rsa_pkcs1_sha512" => &[S::RSA_PKCS1_SHA512],
            "rsa-pss+sha256" | "pss+sha256" | "rsa_pss_rsae_sha256" => &[S::RSA_PSS_SHA256],
            "rsa-pss+sha384" | "pss+sha384" | "rsa_pss_rsae_sha384" => &[S::RSA_PSS_SHA384],
            "rsa-pss+sha512" | "pss+sha512" | "rsa_pss_rsae_sha512" => &[S::RSA_PSS_SHA512],
            "ecdsa+sha256" | "ecdsa_secp256r1_sha256" => &[S::ECDSA_NISTP256_SHA256],
            "ecdsa+sha384" | "ecdsa_secp384r1_sha384" => &[S::ECDSA_NISTP384_SHA384],
            "ecdsa+sha512" | "ecdsa_secp521r1_sha512" => &[S::ECDSA_NISTP521_SHA512],
            "ed25519" => &[S::ED25519],
            "ed448" | "rsa+sha1" | "rsa_pkcs1_sha1" | "ecdsa+sha1" | "ecdsa_sha1"
            | "rsa+sha224" | "ecdsa+sha224" | "rsa_pss_pss_sha256" | "rsa_pss_pss_sha384"
            | "rsa_pss_pss_sha512" => &[],
            _ => {
                return Err(refused(&format!(
                    "names {name:?}, which is no signature algorithm"
                )))
            }
        };
        for scheme in named {
            if offered.contains(scheme) && !schemes.contains(scheme) {
                schemes.push(*scheme);
            }
        }
    }
    if schemes.is_empty() {
        return Err(refused("names no signature algorithm rustls verifies (RSA, RSA-PSS and ECDSA with SHA-256, -384 or -512, ed25519)"));
    }
    Ok(schemes)
}

/// OpenSSL's "no cipher match", naming what rustls has.
fn no_cipher_match(ciphers: &str) -> Error {
    let known: Vec<String> = tls13_suites()
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(tls12_suites().into_iter().map(|s| s.name))
        .collect();
    Error::new(
        Kind::NoCipherMatch,
        format!(
            "No cipher match: the property 'options.ciphers' ({ciphers:?}) selects none of the cipher suites rustls implements: {}",
            known.join(", ")
        ),
    )
}

/// The client certificate chain and key: from `cert` + `key`, or from a PKCS#12 `pfx`.
fn client_identity(
    options: &TlsOptions,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    if let Some(pfx) = &options.pfx {
        let passphrase = options.passphrase.as_deref().unwrap_or("");
        let store = p12_keystore::KeyStore::from_pkcs12(
            pfx,
            passphrase,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            invalid(format!(
                "The \"pfx\" option could not be read with this passphrase: {e}"
            ))
        })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            invalid("The \"pfx\" option holds no private key with its certificate".into())
        })?;
        let certs = chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(chain.key().as_der().to_vec().into());
        return Ok(Some((certs, key)));
    }
    match &options.key {
        None if options.cert.is_empty() => Ok(None),
        None => Err(invalid("The \"cert\" option needs a \"key\"".into())),
        Some(key) => {
            let chain = parse_certs(&options.cert, "cert")?;
            if chain.is_empty() {
                return Err(invalid("The \"key\" option needs a \"cert\"".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                invalid(format!(
                    "The \"key\" option holds no usable private key: {e}"
                ))
            })?;
            Ok(Some((chain, key)))
        }
    }
}

/// The client certificate and key, sent to every server that asks. rustls's own resolver reads the
/// certificate with webpki to match it with the key, and so refuses an X.509 v1 certificate (what the
/// usual `openssl x509 -req` recipe makes), which Node sends; here such a certificate's key is matched
/// from its DER.
#[derive(Debug)]
struct ClientIdentity(Arc<rustls::sign::CertifiedKey>);

/// A client key that is not the certificate's, as Node's OpenSSL refuses it.
fn keys_differ() -> Error {
    Error::new(
        Kind::OpenSsl("ERR_OSSL_X509_KEY_VALUES_MISMATCH"),
        "error:05800074:x509 certificate routines::key values mismatch",
    )
}

impl ClientIdentity {
    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let mismatch = |e: rustls::Error| invalid(format!("The client certificate and key: {e}"));
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(mismatch)?;
        let public = signing.public_key().map(|key| key.as_ref().to_vec());
        let certified = rustls::sign::CertifiedKey::new(chain, signing);
        let leaf = certified.end_entity_cert().map_err(mismatch)?;
        if der::is_version_one(leaf) {
            let own = der::subject_public_key_info(leaf);
            if public.is_some_and(|key| Some(key.as_slice()) != own) {
                return Err(keys_differ());
            }
        } else {
            match certified.keys_match() {
                Ok(())
                | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
                Err(rustls::Error::InconsistentKeys(_)) => return Err(keys_differ()),
                Err(e) => return Err(mismatch(e)),
            }
        }
        Ok(ClientIdentity(Arc::new(certified)))
    }
}

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn build(options: &TlsOptions) -> Result<ClientConfig> {
    let provider = match &options.ciphers {
        None => provider(),
        Some(ciphers) => with_ciphers(ciphers, options.openssl_names)?,
    };
    let provider = match &options.curves {
        None => provider,
        Some(curves) => Arc::new(with_curves(&provider, curves)?),
    };
    // A string that left only TLS 1.3's suites, where only TLS 1.2 may be spoken.
    if options.only_version == Some(TlsVersion::Tls12)
        && !provider
            .cipher_suites
            .iter()
            .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
    {
        return Err(no_cipher_match(
            options.ciphers.as_deref().unwrap_or_default(),
        ));
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options.only_version {
        None => rustls::ALL_VERSIONS,
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| invalid(format!("TLS versions: {e}")))?;

    let verifier = verifier(options, provider.signature_verification_algorithms, None)?;
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let mut config = match client_identity(options)? {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            builder.with_client_cert_resolver(Arc::new(ClientIdentity::new(chain, key, &provider)?))
        }
    };
    // Node sends no server name for `servername: ''`.
    config.enable_sni = options.servername.as_deref() != Some("");
    config.alpn_protocols = options
        .alpn
        .clone()
        .unwrap_or_else(|| vec![b"http/1.1".to_vec()]);
    config.resumption = match options.sessions.size {
        0 => rustls::client::Resumption::disabled(),
        size => rustls::client::Resumption::in_memory_sessions(size),
    };
    Ok(config)
}

/// The verifier of a config made with `options`; `stapled`: it keeps what each handshake's server
/// stapled there (a config made for one handshake, see [`stapling`]).
fn verifier(
    options: &TlsOptions,
    algorithms: WebPkiSupportedAlgorithms,
    stapled: Option<Arc<Stapled>>,
) -> Result<Arc<Verifier>> {
    let (roots, pinned, links) = match &options.ca {
        None => {
            let default = default_trust();
            (
                default.roots.clone(),
                default.certs.clone(),
                default.links.clone(),
            )
        }
        Some(pems) => {
            let ca = parse_certs(pems, "ca")?;
            let (roots, links) = (trust_anchors(&ca), trusted_links(&ca));
            (Arc::new(roots), Arc::new(ca), Arc::new(links))
        }
    };
    let trust = if options.reject_unauthorized {
        Trust::Verified {
            roots,
            pinned,
            links,
            names: !options.names_by_caller,
        }
    } else {
        Trust::Any
    };
    let schemes = options
        .sigalgs
        .as_deref()
        .map(|sigalgs| signature_schemes(sigalgs, &algorithms.supported_schemes()))
        .transpose()?;
    Ok(Arc::new(Verifier {
        trust,
        algorithms,
        schemes,
        stapled,
    }))
}

/// What Node reports of a server's chain on a connection that accepts any certificate
/// (`rejectUnauthorized: false`): OpenSSL still verifies it, and `socket.authorized` and
/// `authorizationError` tell the outcome. The chain is judged as a verifying route's would be, without
/// the host name, which Node checks in JS (its `checkServerIdentity`) once the chain stands.
#[derive(Debug)]
pub struct ChainJudge(Arc<Verifier>);

impl ChainJudge {
    /// The judge for a route made with `options`; `None` when the route verifies (it refuses instead).
    pub fn of(options: &TlsOptions) -> Result<Option<Self>> {
        if options.reject_unauthorized {
            return Ok(None);
        }
        let verifying = TlsOptions {
            reject_unauthorized: true,
            names_by_caller: true,
            ..options.clone()
        };
        let verifier = verifier(
            &verifying,
            provider().signature_verification_algorithms,
            None,
        )?;
        Ok(Some(ChainJudge(verifier)))
    }

    /// Whether `chain` (DER, the server's leaf first) ends at a trusted certificate now; the error
    /// carries the code Node gives the same chain (`DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, ...).
    pub fn judge(&self, chain: &[Vec<u8>]) -> Result<()> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Error::new(
                Kind::TlsProtocol,
                "the server sent no certificate",
            ));
        };
        let leaf = CertificateDer::from(leaf.as_slice());
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        // Names are not checked (see `of`), so any valid name serves.
        let name = ServerName::try_from("localhost").expect("a valid DNS name");
        self.0
            .verify_server_cert(&leaf, &intermediates, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|err| classify(&err))
    }
}

/// `config` (made with `options`) for one handshake that keeps in `stapled` the OCSP response the
/// server staples (rustls asks every server for one, and shows it to the verifier only). Sessions are
/// still the config's.
pub fn stapling(
    config: &ClientConfig,
    options: &TlsOptions,
    stapled: Arc<Stapled>,
) -> Result<Arc<ClientConfig>> {
    let verifier = verifier(
        options,
        provider().signature_verification_algorithms,
        Some(stapled),
    )?;
    let mut config = config.clone();
    config.dangerous().set_certificate_verifier(verifier);
    Ok(Arc::new(config))
}

/// Whom the verifier trusts.
#[derive(Debug)]
enum Trust {
    /// Node's verification: webpki against the roots, plus identity with a trusted certificate (given
    /// in `ca`, or in Node's default set); with `names`, the host name too (else the caller's
    /// `checkServerIdentity` checks it).
    Verified {
        roots: Arc<RootCertStore>,
        pinned: Arc<Vec<CertificateDer<'static>>>,
        /// The trusted certificates that issue but are no roots (see [`trusted_links`]).
        links: Arc<Vec<CertificateDer<'static>>>,
        names: bool,
    },
    /// `rejectUnauthorized: false`: any certificate, but the handshake signatures are still checked.
    Any,
}

#[derive(Debug)]
struct Verifier {
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
    /// Node's `sigalgs`: the only handshake signature schemes offered and taken; `None`: all of
    /// `algorithms`.
    schemes: Option<Vec<SignatureScheme>>,
    stapled: Option<Arc<Stapled>>,
}

/// What a handshake's server stapled to its certificate (an OCSP response), for Node's `requestOCSP`.
#[derive(Debug, Default)]
pub struct Stapled(Mutex<Option<Vec<u8>>>);

impl Stapled {
    /// The response, if the server stapled one.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let (Some(stapled), false) = (&self.stapled, ocsp.is_empty()) {
            *stapled.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(ocsp.to_vec());
        }
        let Trust::Verified {
            roots,
            pinned,
            links,
            names,
        } = &self.trust
        else {
            return Ok(ServerCertVerified::assertion());
        };
        let trusted = pinned.as_slice();
        // A server's own certificate given in `ca` stands by itself where it is a root (self-signed, as
        // `openssl req -x509` makes it); one issued by another needs its chain, as in OpenSSL.
        let pinned = der::is_self_issued(end_entity)
            && trusted.iter().any(|c| c.as_ref() == end_entity.as_ref());
        // A certificate given in `ca` itself is trusted as OpenSSL trusts it, an X.509 v1 one too
        // (which webpki does not parse): its validity and name are read here. Any other v1 leaf is
        // checked against its issuer among the trusted certificates below.
        let parsed = match ParsedCertificate::try_from(end_entity) {
            Ok(parsed) => Some(parsed),
            Err(_) if pinned => None,
            // Not given in `ca`: refused, told as OpenSSL tells an untrusted certificate signed by itself,
            // unless it is out of its validity, which OpenSSL tells last and so reports.
            Err(_) if intermediates.is_empty() && der::is_self_issued(end_entity) => {
                check_validity(end_entity, now)?;
                return Err(self_signed());
            }
            Err(_) if der::is_version_one(end_entity) => None,
            Err(err) => return Err(err),
        };
        let constrained = if pinned {
            check_validity(end_entity, now)?;
            Constrained(false)
        } else if parsed.is_none() {
            let constrained = self
                .issued_by_trusted(end_entity, trusted, now)
                .map_err(|err| match err {
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => self
                        .rootless(end_entity, intermediates, trusted)
                        .map_or(err, ChainRefused::into_error),
                    other => other,
                })?;
            check_validity(end_entity, now)?;
            constrained
        } else {
            // The server's certificates, then the trusted links that may complete its chain.
            let mut chain: Vec<CertificateDer<'_>> = intermediates.to_vec();
            chain.extend(links.iter().map(|c| CertificateDer::from(c.as_ref())));
            self.chain_to_anchor(end_entity, &chain, roots, trusted, now)
                .map_err(|err| match err {
                    // Untrusted (unknown issuer, or webpki's "CA used as end entity") and signed by
                    // itself: OpenSSL's chain stops at such a leaf, whatever else the server sent.
                    rustls::Error::InvalidCertificate(
                        CertificateError::UnknownIssuer | CertificateError::Other(_),
                    ) if der::is_self_issued(end_entity) => self_signed(),
                    // The chain ends at a trusted certificate that may not issue: told as OpenSSL tells it;
                    // else why OpenSSL finds no trusted root for it.
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                        std::iter::once(end_entity)
                            .chain(intermediates)
                            .filter_map(|cert| der::issuer(cert))
                            .find_map(|issuer| {
                                trusted
                                    .iter()
                                    .filter(|ca| der::subject(ca) == Some(issuer))
                                    .find_map(|ca| unsuitable_issuer(ca))
                            })
                            .or_else(|| self.rootless(end_entity, intermediates, trusted))
                            .map_or(err, ChainRefused::into_error)
                    }
                    // A signature ring cannot verify because its issuer's key is too short.
                    rustls::Error::InvalidCertificate(CertificateError::BadSignature)
                        if weak_issuer(end_entity, intermediates, trusted) =>
                    {
                        ChainRefused::CA_KEY_TOO_SMALL.into_error()
                    }
                    other => other,
                })?
        };
        // OpenSSL checks the keys of a chain that stands (Node 24's security level refuses RSA under
        // 2048 bits); ring could not verify this one's handshake signature anyway.
        if weak_key(end_entity) {
            return Err(ChainRefused::EE_KEY_TOO_SMALL.into_error());
        }
        if *names {
            verify_name(parsed.as_ref(), end_entity, server_name, constrained)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.offered(dss)?;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
            .or_else(|err| signed_by_key(message, cert, dss, &self.algorithms, false).ok_or(err))
            .or_else(|err| {
                signed_by_key(message, cert, dss, &short_rsa::ALGORITHMS, false).ok_or(err)
            })
            .map_err(|err| refused_signature(cert, err, false))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.offered(dss)?;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
            .or_else(|err| signed_by_key(message, cert, dss, &self.algorithms, true).ok_or(err))
            .or_else(|err| {
                signed_by_key(message, cert, dss, &short_rsa::ALGORITHMS, true).ok_or(err)
            })
            .map_err(|err| refused_signature(cert, err, true))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.schemes {
            Some(schemes) => schemes.clone(),
            None => self.algorithms.supported_schemes(),
        }
    }
}

impl Verifier {
    /// A server signed its handshake with a scheme `sigalgs` left out: refused, as rustls refuses one
    /// it did not offer at all.
    fn offered(&self, dss: &DigitallySignedStruct) -> std::result::Result<(), rustls::Error> {
        match &self.schemes {
            Some(schemes) if !schemes.contains(&dss.scheme) => {
                Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
            }
            _ => Ok(()),
        }
    }

    /// webpki's chain from `end_entity` to one of `roots`, as rustls's
    /// `verify_server_cert_signed_by_trust_anchor` builds it, except that a path ending at a trusted
    /// certificate outside its own validity is refused (and another path tried), as OpenSSL refuses it:
    /// webpki keeps only an anchor's name and key.
    fn chain_to_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        roots: &RootCertStore,
        trusted: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> std::result::Result<Constrained, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(certificate_error)?;
        let anchor_in_validity = |path: &webpki::VerifiedPath<'_>| {
            let anchor = path.anchor();
            let fields = (
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
            );
            let seconds = |at: i64| UnixTime::since_unix_epoch(Duration::from_secs(at as u64));
            let validity = trusted
                .iter()
                .find(|ca| der::anchor_fields(ca) == Some(fields))
                .and_then(|ca| der::validity(ca));
            match validity {
                Some((not_before, _)) if (now.as_secs() as i64) < not_before => {
                    Err(webpki::Error::CertNotValidYet {
                        time: now,
                        not_before: seconds(not_before),
                    })
                }
                Some((_, not_after)) if (now.as_secs() as i64) > not_after => {
                    Err(webpki::Error::CertExpired {
                        time: now,
                        not_after: seconds(not_after),
                    })
                }
                _ => Ok(()),
            }
        };
        let verify = |usage: ServerPurpose| {
            cert.verify_for_usage(
                self.algorithms.all,
                &roots.roots,
                intermediates,
                now,
                usage,
                None,
                Some(&anchor_in_validity),
            )
            .map(|path| {
                Constrained(
                    path.anchor().name_constraints.is_some()
                        || path
                            .intermediate_certificates()
                            .any(|c| der::has_name_constraints(&c.der())),
                )
            })
        };
        match verify(ServerPurpose::Required) {
            // webpki checks the purpose first; OpenSSL builds the chain first, and tells a chain that
            // fails as such, whatever the leaf is for.
            #[allow(deprecated)]
            Err(
                webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_),
            ) => {
                verify(ServerPurpose::Waived).map_err(certificate_error)?;
                Err(ChainRefused::UNSUITABLE_PURPOSE.into_error())
            }
            other => other.map_err(certificate_error),
        }
    }

    /// Verifies an X.509 v1 leaf (which webpki does not parse; `openssl x509 -req -CA` makes one when
    /// given no extensions, as many tutorials show) issued by a trusted certificate itself, as OpenSSL
    /// verifies that chain of two: a trusted certificate whose subject is the leaf's issuer, whose key
    /// verifies the leaf's signature, that may issue certificates and is within its validity. (A v1
    /// leaf under an intermediate is still refused: webpki builds such chains, and cannot take the leaf.)
    fn issued_by_trusted(
        &self,
        leaf: &CertificateDer<'_>,
        trusted: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> std::result::Result<Constrained, rustls::Error> {
        let (tbs, algorithm, signature) = der::signed_parts(leaf).ok_or(
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
        )?;
        let Some(issuer) = der::issuer(leaf) else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        };
        // Every trusted root of the issuer's name is tried (OpenSSL stops at the first); the first
        // one's refusal is told if none fits. A trusted intermediate is no root: see `rootless`.
        let mut refusal = None;
        for ca in trusted
            .iter()
            .filter(|ca| der::subject(ca) == Some(issuer) && der::is_self_issued(ca))
        {
            let refused = match unsuitable_issuer(ca) {
                Some(refused) => refused,
                None if self.signs(ca, tbs, algorithm, signature) => {
                    return check_validity(ca, now)
                        .map(|()| Constrained(der::has_name_constraints(ca)))
                }
                None if weak_key(ca) => ChainRefused::CA_KEY_TOO_SMALL,
                None if weak_digest(algorithm) => ChainRefused::CA_MD_TOO_WEAK,
                None => ChainRefused::BAD_SIGNATURE,
            };
            refusal.get_or_insert(refused);
        }
        Err(refusal.map_or(
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            ChainRefused::into_error,
        ))
    }

    /// Whether `ca`'s key verifies a certificate's signature (its `tbs` part, signed with `algorithm`).
    fn signs(&self, ca: &[u8], tbs: &[u8], algorithm: &[u8], signature: &[u8]) -> bool {
        let Some(spki) = der::subject_public_key_info(ca).map(SubjectPublicKeyInfoDer::from) else {
            return false;
        };
        let Ok(key) = webpki::RawPublicKeyEntity::try_from(&spki) else {
            return false;
        };
        self.algorithms
            .all
            .iter()
            .filter(|alg| alg.signature_alg_id().as_ref() == algorithm)
            .any(|alg| key.verify_signature(*alg, tbs, signature).is_ok())
    }

    /// Why OpenSSL finds no trusted root for a chain that reaches none, as Node reports it. OpenSSL
    /// walks from the leaf to each issuer (one of that name whose key signed it, trusted ones first,
    /// then those the server sent, until a trusted one was reached) until a self-signed certificate or
    /// none: an untrusted root sent by
    /// the server is `SELF_SIGNED_CERT_IN_CHAIN`; no issuer for the leaf itself is
    /// `UNABLE_TO_VERIFY_LEAF_SIGNATURE`; none for a trusted certificate further up (a trusted
    /// intermediate, which ends no chain) `UNABLE_TO_GET_ISSUER_CERT`, and for one the server sent
    /// `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`. `None` where the walk reaches a trusted root (the chain
    /// failed for another reason).
    fn rootless(
        &self,
        leaf: &[u8],
        sent: &[CertificateDer<'_>],
        trusted: &[CertificateDer<'static>],
    ) -> Option<ChainRefused> {
        let issued = |cert: &[u8], ca: &[u8]| {
            der::subject(ca) == der::issuer(cert)
                && ca != cert
                && der::signed_parts(cert)
                    .is_some_and(|(tbs, alg, sig)| self.signs(ca, tbs, alg, sig))
        };
        let (mut cert, mut cert_trusted) = (leaf, false);
        // OpenSSL's own limit on a chain's depth is 100.
        for depth in 0..100 {
            if depth > 0 && der::is_self_issued(cert) {
                return (!cert_trusted).then_some(ChainRefused::SELF_SIGNED_IN_CHAIN);
            }
            // Above a trusted certificate, only trusted ones are looked at.
            let trusted_issuer = trusted.iter().find(|ca| issued(cert, ca));
            let issuer = trusted_issuer.map(|ca| ca.as_ref()).or_else(|| {
                sent.iter()
                    .map(|c| c.as_ref())
                    .find(|ca| !cert_trusted && issued(cert, ca))
            });
            let Some(issuer) = issuer else {
                return Some(match (depth, cert_trusted) {
                    (0, _) => ChainRefused::LEAF_ISSUER_UNKNOWN,
                    (_, true) => ChainRefused::ISSUER_UNKNOWN,
                    (_, false) => ChainRefused::LOCAL_ISSUER_UNKNOWN,
                });
            };
            (cert, cert_trusted) = (issuer, trusted_issuer.is_some());
        }
        None
    }
}

/// Whether `cert`'s key is RSA shorter than 2048 bits: ring verifies no signature by it, and OpenSSL at
/// Node 24's security level (2) refuses it (Node 20 and 22, at level 1, take it).
fn weak_key(cert: &[u8]) -> bool {
    der::rsa_key_bits(cert).is_some_and(|bits| bits < 2048)
}

/// Whether a signature algorithm (an AlgorithmIdentifier's contents: its OID, then any parameters)
/// digests with SHA-1 or MD5: RSA with either, ECDSA or DSA with SHA-1.
fn weak_digest(algorithm: &[u8]) -> bool {
    const WEAK: [&[u8]; 6] = [
        // sha1WithRSAEncryption, md5WithRSAEncryption (1.2.840.113549.1.1.5, .4)
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        // ecdsa-with-SHA1 (1.2.840.10045.4.1), dsa-with-sha1 (1.2.840.10040.4.3)
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03],
        // sha1WithRSASignature (OIW, 1.3.14.3.2.29), md5WithRSA (1.3.14.3.2.3)
        &[0x2b, 0x0e, 0x03, 0x02, 0x1d],
        &[0x2b, 0x0e, 0x03, 0x02, 0x03],
    ];
    match algorithm {
        [0x06, len, rest @ ..] => rest
            .get(..*len as usize)
            .is_some_and(|oid| WEAK.contains(&oid)),
        _ => false,
    }
}

/// Whether a certificate that may issue one of the chain's (by name: sent by the server or trusted)
/// has a key too short to verify with.
fn weak_issuer(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trusted: &[CertificateDer<'static>],
) -> bool {
    let candidates = || {
        intermediates
            .iter()
            .map(|c| c.as_ref())
            .chain(trusted.iter().map(|c| c.as_ref()))
    };
    std::iter::once(end_entity.as_ref())
        .chain(intermediates.iter().map(|c| c.as_ref()))
        .filter_map(der::issuer)
        .any(|issuer| candidates().any(|ca| der::subject(ca) == Some(issuer) && weak_key(ca)))
}

/// A handshake signature that did not verify, told as OpenSSL tells it: the server's key too short to
/// verify with at all (under 1024 bits; 1024 to 2047 are verified in `short_rsa`), or a protocol error
/// (`EPROTO`) where the signature is wrong, not a certificate one: the certificate may be fine, the
/// server did not prove it holds its key.
fn refused_signature(cert: &CertificateDer<'_>, err: rustls::Error, tls13: bool) -> rustls::Error {
    if der::rsa_key_bits(cert).is_some_and(|bits| bits < 1024) {
        return ChainRefused::EE_KEY_TOO_SMALL.into_error();
    }
    match err {
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(BadHandshakeSignature { tls13 }),
            )))
        }
        other => other,
    }
}

/// Marks a handshake signature (TLS 1.2's ServerKeyExchange, 1.3's CertificateVerify) that did not
/// verify with the certificate's key.
#[derive(Debug)]
struct BadHandshakeSignature {
    tls13: bool,
}

impl std::fmt::Display for BadHandshakeSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // OpenSSL's SSL_R_BAD_SIGNATURE, from where each version checks it.
        let function = if self.tls13 {
            "tls_process_cert_verify"
        } else {
            "tls_process_key_exchange"
        };
        f.write_str(&openssl_error(0x7b, function, "bad signature"))
    }
}

impl std::error::Error for BadHandshakeSignature {}

/// Why OpenSSL refuses `cert` as an issuer in a chain (its `check_ca`), `None` when it may issue: a
/// keyUsage without keyCertSign refuses it; otherwise basicConstraints decides, and without them a
/// keyUsage (which then allows signing) or a self-signed X.509 v1 root (which has no extensions to say
/// so) makes a CA.
fn unsuitable_issuer(cert: &[u8]) -> Option<ChainRefused> {
    let signs = der::key_cert_sign(cert);
    if signs == Some(false) {
        return Some(ChainRefused::KEY_USAGE);
    }
    let ca = der::basic_constraints_ca(cert).unwrap_or_else(|| {
        signs.is_some() || (der::is_version_one(cert) && der::is_self_issued(cert))
    });
    (!ca).then_some(ChainRefused::UNSUITABLE_PURPOSE)
}

/// Whether a CA of the verified chain (its anchor included) carries name constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Constrained(bool);

/// A chain that ends at a trusted certificate but fails one of OpenSSL's checks of it, with the code
/// and reason Node reports for that check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainRefused {
    pub code: &'static str,
    pub reason: &'static str,
}

impl ChainRefused {
    const fn new(code: &'static str, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// The issuer's key does not verify the certificate's signature.
    const BAD_SIGNATURE: Self =
        Self::new("CERT_SIGNATURE_FAILURE", "certificate signature failure");
    /// The certificate does not serve its purpose in a TLS server's chain: an issuer that is no CA, or
    /// a leaf whose extendedKeyUsage leaves out serverAuth.
    const UNSUITABLE_PURPOSE: Self = Self::new("INVALID_PURPOSE", "unsuitable certificate purpose");
    /// The host matched the subject's CN, and a CA of the chain constrains names: OpenSSL checks the CN
    /// against the constraints (a violation is its `UNSPECIFIED` "permitted subtree violation"); webpki
    /// does not, so it is refused.
    const CN_UNDER_NAME_CONSTRAINTS: Self = Self::new(
        "UNSPECIFIED",
        "name constraints of the chain not checked against a name in the subject CN",
    );
    /// The chain reaches a self-signed certificate the server sent, which is not trusted.
    const SELF_SIGNED_IN_CHAIN: Self = Self::new(
        "SELF_SIGNED_CERT_IN_CHAIN",
        "self-signed certificate in certificate chain",
    );
    /// No issuer of the leaf is trusted or sent.
    const LEAF_ISSUER_UNKNOWN: Self = Self::new(
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        "unable to verify the first certificate",
    );
    /// The chain reaches a trusted certificate that is no root, and no issuer of it.
    const ISSUER_UNKNOWN: Self = Self::new(
        "UNABLE_TO_GET_ISSUER_CERT",
        "unable to get issuer certificate",
    );
    /// The chain reaches a certificate the server sent, and no trusted issuer of it.
    const LOCAL_ISSUER_UNKNOWN: Self = Self::new(
        "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        "unable to get local issuer certificate",
    );
    /// The server's RSA key is shorter than OpenSSL's security level 2 allows (Node 24's default; Node
    /// has no name for OpenSSL's code). ring verifies no signature by such a key.
    const EE_KEY_TOO_SMALL: Self = Self::new("UNSPECIFIED", "EE certificate key too weak");
    /// An issuer's RSA key is that short.
    const CA_KEY_TOO_SMALL: Self = Self::new("UNSPECIFIED", "CA certificate key too weak");
    /// A certificate of the chain is signed with SHA-1 or MD5, which OpenSSL refuses at Node's security
    /// levels (webpki verifies neither).
    const CA_MD_TOO_WEAK: Self = Self::new("UNSPECIFIED", "CA signature digest algorithm too weak");
    /// The issuer's keyUsage leaves out keyCertSign (Node has no name for OpenSSL's code).
    const KEY_USAGE: Self = Self::new(
        "UNSPECIFIED",
        "key usage does not include certificate signing",
    );

    fn into_error(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            self,
        ))))
    }
}

impl std::fmt::Display for ChainRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for ChainRefused {}

/// Whether the chain's extendedKeyUsage must allow serverAuth (webpki's `KeyUsage::server_auth`), or is
/// waived to learn whether a chain stands apart from it.
#[derive(Clone, Copy)]
enum ServerPurpose {
    Required,
    Waived,
}

impl webpki::ExtendedKeyUsageValidator for ServerPurpose {
    fn validate(
        &self,
        iter: webpki::KeyPurposeIdIter<'_, '_>,
    ) -> std::result::Result<(), webpki::Error> {
        match self {
            ServerPurpose::Required => webpki::KeyUsage::server_auth().validate(iter),
            ServerPurpose::Waived => Ok(()),
        }
    }
}

/// A webpki failure as rustls reports it (rustls's own mapping is private), for the failures a chain
/// check gives; any other is kept whole as rustls keeps it.
fn certificate_error(err: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    let cert = match err {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding,
        E::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        E::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        E::InvalidCertValidity => CertificateError::Expired,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        E::UnsupportedSignatureAlgorithmContext(ref context)
            if weak_digest(&context.signature_algorithm_id) =>
        {
            return ChainRefused::CA_MD_TOO_WEAK.into_error()
        }
        other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(cert)
}

fn self_signed() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        SelfSigned,
    ))))
}

/// The handshake signature checked against the key of `cert` alone, for a certificate webpki does not
/// parse (X.509 v1, which OpenSSL takes) that the verifier accepted: any certificate with
/// `rejectUnauthorized: false`, or one given in `ca` itself. The signature still proves that the peer
/// holds that certificate's key. `None` when it does not verify.
fn signed_by_key(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Option<HandshakeSignatureValid> {
    let spki = SubjectPublicKeyInfoDer::from(der::subject_public_key_info(cert)?);
    if tls13 {
        return rustls::crypto::verify_tls13_signature_with_raw_key(
            message, &spki, dss, algorithms,
        )
        .ok();
    }
    let key = webpki::RawPublicKeyEntity::try_from(&spki).ok()?;
    let (_, candidates) = algorithms.mapping.iter().find(|(s, _)| *s == dss.scheme)?;
    candidates
        .iter()
        .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok())
        .then(HandshakeSignatureValid::assertion)
}

/// Node's host name check: the subjectAltName, or the subject's CN when no DNS altname is given (Node
/// still accepts that; webpki does not). `parsed`: none for a certificate webpki cannot parse (X.509
/// v1: no altname, so its CN).
fn verify_name(
    parsed: Option<&ParsedCertificate<'_>>,
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    constrained: Constrained,
) -> std::result::Result<(), rustls::Error> {
    let err = match parsed.map(|p| rustls::client::verify_server_name(p, server_name)) {
        Some(Ok(())) => return Ok(()),
        Some(Err(err)) => err,
        None => rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
    };
    if let ServerName::DnsName(host) = server_name {
        let names = der::common_names(cert);
        let matched = names.iter().find(|cn| host_matches(host.as_ref(), cn));
        if let (false, Some(cn)) = (der::has_dns_alt_name(cert), matched) {
            // webpki checks name constraints against altnames only: a name from the CN under a
            // constrained CA is refused rather than taken unchecked. (OpenSSL checks a CN against them
            // when it has a dot, as a host name; one without is left alone there, and here.)
            return match constrained {
                Constrained(true) if cn.contains('.') => {
                    Err(ChainRefused::CN_UNDER_NAME_CONSTRAINTS.into_error())
                }
                _ => Ok(()),
            };
        }
    }
    Err(rustls::Error::InvalidCertificate(CertificateError::Other(
        rustls::OtherError(Arc::new(NameMismatch {
            leaf: cert.to_vec(),
            reason: err.to_string(),
        })),
    )))
}

/// A handshake's key material as NSS key log lines (`CLIENT_HANDSHAKE_TRAFFIC_SECRET <random> <secret>`,
/// each ending in a newline), as Node's `'keylog'` event gives them.
#[derive(Debug, Default)]
pub struct KeyLines(Mutex<Vec<Vec<u8>>>);

impl KeyLines {
    pub fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl rustls::KeyLog for KeyLines {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::fmt::Write;
        let mut line =
            String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
        line.push_str(label);
        for part in [client_random, secret] {
            line.push(' ');
            for byte in part {
                let _ = write!(line, "{byte:02x}");
            }
        }
        line.push('\n');
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.into_bytes());
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

/// What a TLS handshake settled, as Node's `TLSSocket` reports it (`getProtocol()`, `getCipher()`,
/// `getEphemeralKeyInfo()`, `isSessionReused()`); JS turns rustls's names into OpenSSL's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// "TLSv1.2" or "TLSv1.3".
    pub protocol: &'static str,
    /// The cipher suite's IANA name as rustls spells it ("TLS13_AES_128_GCM_SHA256").
    pub suite: &'static str,
    /// The key exchange group ("X25519", "secp256r1"); unknown after some resumptions.
    pub group: Option<&'static str>,
    /// The session was resumed (a ticket from an earlier connection of the same config).
    pub resumed: bool,
}

impl Negotiated {
    /// `None` until the handshake is done.
    pub fn of(conn: &rustls::ClientConnection) -> Option<Self> {
        let protocol = match conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => return None,
        };
        Some(Negotiated {
            protocol,
            suite: conn.negotiated_cipher_suite()?.suite().as_str()?,
            group: conn
                .negotiated_key_exchange_group()
                .and_then(|g| g.name().as_str()),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        })
    }
}

/// The host name did not match: the leaf certificate, so that the error can be told as Node tells it
/// (`tls.checkServerIdentity`'s reason, host and certificate; see `Connector`).
#[derive(Debug)]
pub struct NameMismatch {
    pub leaf: Vec<u8>,
    /// rustls's account of it, told where Node's cannot be.
    reason: String,
}

impl std::fmt::Display for NameMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NameMismatch {}

impl NameMismatch {
    /// The mismatch behind a failed handshake, if that is why it failed.
    pub fn behind(err: &std::io::Error) -> Option<&NameMismatch> {
        match err.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref::<NameMismatch>()
            }
            _ => None,
        }
    }
}

/// Whether `pattern` (a certificate name) names `host`, by the rules of Node's `checkServerIdentity`:
/// same number of labels, case-insensitive, a wildcard only in the first label of a name of three
/// labels or more, and at most one.
fn host_matches(host: &str, pattern: &str) -> bool {
    let split = |s: &str| -> Vec<String> {
        s.trim_end_matches('.')
            .to_ascii_lowercase()
            .split('.')
            .map(str::to_string)
            .collect()
    };
    let (host, pattern) = (split(host), split(pattern));
    if host.len() != pattern.len()
        || pattern.iter().any(String::is_empty)
        || pattern
            .iter()
            .any(|p| p.bytes().any(|b| !(0x21..0x80).contains(&b)))
        || host[1..] != pattern[1..]
    {
        return false;
    }
    let (label, first) = (&host[0], &pattern[0]);
    let parts: Vec<&str> = first.splitn(3, '*').collect();
    match parts.as_slice() {
        [_] => label == first,
        _ if first.contains("xn--") => label == first,
        [prefix, suffix] if pattern.len() > 2 => {
            prefix.len() + suffix.len() <= label.len()
                && label.starts_with(prefix)
                && label.ends_with(suffix)
        }
        _ => false,
    }
}

/// Marks an untrusted certificate that signed itself, Node's `DEPTH_ZERO_SELF_SIGNED_CERT`.
#[derive(Debug)]
struct SelfSigned;

impl std::fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("self-signed certificate")
    }
}

impl std::error::Error for SelfSigned {}

fn check_validity(
    cert: &CertificateDer<'_>,
    now: UnixTime,
) -> std::result::Result<(), rustls::Error> {
    let (not_before, not_after) = der::validity(cert).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))?;
    let now = now.as_secs() as i64;
    if now < not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// Maps a rustls failure to Node's TLS error codes.
pub fn classify(err: &rustls::Error) -> Error {
    let kind = match err {
        // What a server that speaks no TLS answers (a plain HTTP one, most often): OpenSSL's record layer
        // finds no TLS version in it.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            return Error::new(
                Kind::TlsProtocol,
                format!(
                    "write EPROTO {}",
                    openssl_error(0x10b, "tls_validate_record_header", "wrong version number")
                ),
            )
        }
        rustls::Error::AlertReceived(alert) => return alert_received(*alert),
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Kind::TlsAltName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Kind::TlsExpired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                return Error::new(
                    Kind::TlsChain("CERT_NOT_YET_VALID"),
                    "certificate is not yet valid",
                )
            }
            CertificateError::Other(other) if other.0.downcast_ref::<SelfSigned>().is_some() => {
                Kind::TlsSelfSigned
            }
            CertificateError::Other(other) if other.0.downcast_ref::<NameMismatch>().is_some() => {
                Kind::TlsAltName
            }
            CertificateError::Other(other) => {
                if let Some(bad) = other.0.downcast_ref::<BadHandshakeSignature>() {
                    return Error::new(Kind::TlsProtocol, format!("write EPROTO {bad}"));
                }
                match other.0.downcast_ref::<ChainRefused>() {
                    Some(refused) => {
                        return Error::new(Kind::TlsChain(refused.code), refused.reason)
                    }
                    None => Kind::TlsUnknownIssuer,
                }
            }
            _ => Kind::TlsUnknownIssuer,
        },
        _ => Kind::TlsProtocol,
    };
    let message = match kind {
        Kind::TlsAltName => format!("Hostname/IP does not match certificate's altnames: {err}"),
        Kind::TlsSelfSigned => "self-signed certificate".to_string(),
        Kind::TlsUnknownIssuer => format!("unable to verify the first certificate: {err}"),
        Kind::TlsExpired => "certificate has expired".to_string(),
        _ => format!("TLS handshake failed: {err}"),
    };
    Error::new(kind, message)
}

/// An OpenSSL error string as Node's messages carry it (`error:0A00010B:SSL routines:...:reason`), less
/// the thread and source file OpenSSL adds; `reason_code` is OpenSSL's SSL reason number.
fn openssl_error(reason_code: u32, function: &str, reason: &str) -> String {
    format!(
        "error:{:08X}:SSL routines:{function}:{reason}",
        0x0A00_0000 | reason_code
    )
}

/// A fatal alert the server sent, as Node reports OpenSSL's: during the handshake a failed `write`
/// (`EPROTO`), with OpenSSL's reason for the alert; TLS 1.3's certificate_required, which comes once
/// the client thinks the handshake done, is a read error with its own code
/// (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`). Reasons are OpenSSL 3.2's (Node 22+ wording; Node 20's
/// older names are restored in JS).
fn alert_received(alert: rustls::AlertDescription) -> Error {
    use rustls::AlertDescription as A;
    let reason = match alert {
        A::UnexpectedMessage => "ssl/tls alert unexpected message",
        A::BadRecordMac => "ssl/tls alert bad record mac",
        A::RecordOverflow => "tlsv1 alert record overflow",
        A::HandshakeFailure => "ssl/tls alert handshake failure",
        A::BadCertificate => "ssl/tls alert bad certificate",
        A::UnsupportedCertificate => "ssl/tls alert unsupported certificate",
        A::CertificateRevoked => "ssl/tls alert certificate revoked",
        A::CertificateExpired => "ssl/tls alert certificate expired",
        A::CertificateUnknown => "ssl/tls alert certificate unknown",
        A::IllegalParameter => "ssl/tls alert illegal parameter",
        A::UnknownCA => "tlsv1 alert unknown ca",
        A::AccessDenied => "tlsv1 alert access denied",
        A::DecodeError => "tlsv1 alert decode error",
        A::DecryptError => "tlsv1 alert decrypt error",
        A::ProtocolVersion => "tlsv1 alert protocol version",
        A::InsufficientSecurity => "tlsv1 alert insufficient security",
        A::InternalError => "tlsv1 alert internal error",
        A::InappropriateFallback => "tlsv1 alert inappropriate fallback",
        A::UserCanceled => "tlsv1 alert user cancelled",
        A::NoRenegotiation => "tlsv1 alert no renegotiation",
        A::UnrecognisedName => "tlsv1 unrecognized name",
        A::CertificateRequired => "tlsv13 alert certificate required",
        A::NoApplicationProtocol => "tlsv1 alert no application protocol",
        _ => "unknown alert type",
    };
    let number = u8::from(alert);
    let text = format!(
        "{}:SSL alert number {number}",
        openssl_error(1000 + u32::from(number), "ssl3_read_bytes", reason)
    );
    if alert == A::CertificateRequired {
        Error::new(
            Kind::OpenSsl("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"),
            text,
        )
    } else {
        Error::new(Kind::TlsProtocol, format!("write EPROTO {text}"))
    }
}

/// Just enough DER to read a certificate's issuer, subject, validity, the extensions Node's checks read
/// and what its issuer signed: webpki does not expose them.
mod der {
    /// Splits one TLV off `input`: (tag, contents, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            rest = &rest[n..];
            len
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    /// The TBSCertificate fields: [version], serial, signature, issuer, validity, subject, and what
    /// follows the subject (key, unique ids, extensions).
    fn tbs_fields(cert: &[u8]) -> Option<[&[u8]; 4]> {
        let (_, cert, _) = tlv(cert)?;
        let (_, tbs, _) = tlv(cert)?;
        let mut rest = tbs;
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest)?.2;
        }
        let (_, _serial, rest) = tlv(rest)?;
        let (_, _signature, rest) = tlv(rest)?;
        let (_, issuer, rest) = tlv(rest)?;
        let (_, validity, rest) = tlv(rest)?;
        let (_, subject, rest) = tlv(rest)?;
        Some([issuer, validity, subject, rest])
    }

    const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
    const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
    const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    const OID_NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];

    /// The subject's common names.
    pub fn common_names(cert: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        let Some([_, _, mut rdns, _]) = tbs_fields(cert) else {
            return names;
        };
        while let Some((_, set, rest)) = tlv(rdns) {
            rdns = rest;
            let mut attrs = set;
            while let Some((_, attr, rest)) = tlv(attrs) {
                attrs = rest;
                let Some((0x06, oid, value)) = tlv(attr) else {
                    continue;
                };
                // UTF8String, PrintableString, T61String, IA5String.
                if let Some((0x0c | 0x13 | 0x14 | 0x16, text, _)) = tlv(value) {
                    if oid == OID_CN {
                        names.push(String::from_utf8_lossy(text).into_owned());
                    }
                }
            }
        }
        names
    }

    /// The subjectPublicKeyInfo, whole (its DER encoding).
    pub fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
        let [_, _, _, rest] = tbs_fields(cert)?;
        let (_, _, after) = tlv(rest)?;
        Some(&rest[..rest.len() - after.len()])
    }

    /// The size in bits of `cert`'s RSA key (its modulus), `None` for any other key.
    pub fn rsa_key_bits(cert: &[u8]) -> Option<usize> {
        // rsaEncryption, 1.2.840.113549.1.1.1
        const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let (_, spki, _) = tlv(subject_public_key_info(cert)?)?;
        let (_, algorithm, rest) = tlv(spki)?;
        let (0x06, oid, _) = tlv(algorithm)? else {
            return None;
        };
        let (0x03, bits, _) = tlv(rest)? else {
            return None;
        };
        if oid != RSA {
            return None;
        }
        // The BIT STRING's first byte counts unused bits; then RSAPublicKey { modulus, exponent }.
        let (_, key, _) = tlv(bits.get(1..)?)?;
        let (0x02, modulus, _) = tlv(key)? else {
            return None;
        };
        let significant = modulus.iter().position(|&b| b != 0)?;
        Some((modulus.len() - significant) * 8 - modulus[significant].leading_zeros() as usize)
    }

    /// The value (the OCTET STRING's contents) of the extension `oid`, the first if repeated.
    fn extension<'a>(cert: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
        let [_, _, _, rest] = tbs_fields(cert)?;
        // subjectPublicKeyInfo, then optional [1] and [2] unique ids, then [3] extensions.
        let (_, _, mut rest) = tlv(rest)?;
        while let Some((tag, contents, next)) = tlv(rest) {
            rest = next;
            if tag != 0xa3 {
                continue;
            }
            let (_, mut extensions, _) = tlv(contents)?;
            while let Some((_, extension, next)) = tlv(extensions) {
                extensions = next;
                let Some((0x06, id, mut fields)) = tlv(extension) else {
                    continue;
                };
                if id != oid {
                    continue;
                }
                // The optional `critical` BOOLEAN.
                if let Some((0x01, _, after)) = tlv(fields) {
                    fields = after;
                }
                return match tlv(fields)? {
                    (0x04, value, _) => Some(value),
                    _ => None,
                };
            }
        }
        None
    }

    /// Whether the certificate carries the nameConstraints extension.
    pub fn has_name_constraints(cert: &[u8]) -> bool {
        extension(cert, OID_NAME_CONSTRAINTS).is_some()
    }

    /// Whether the subjectAltName extension holds a dNSName.
    pub fn has_dns_alt_name(cert: &[u8]) -> bool {
        let Some((_, mut names, _)) = extension(cert, OID_SAN).and_then(tlv) else {
            return false;
        };
        while let Some((tag, _, next)) = tlv(names) {
            names = next;
            if tag == 0x82 {
                return true;
            }
        }
        false
    }

    /// basicConstraints' cA flag, if the certificate has that extension.
    pub fn basic_constraints_ca(cert: &[u8]) -> Option<bool> {
        let (_, fields, _) = tlv(extension(cert, OID_BASIC_CONSTRAINTS)?)?;
        // cA is a BOOLEAN DEFAULT FALSE: absent (pathLenConstraint alone, or nothing) means false.
        Some(matches!(tlv(fields), Some((0x01, [flag], _)) if *flag != 0))
    }

    /// Whether keyUsage allows keyCertSign (its sixth bit), if the certificate has that extension.
    pub fn key_cert_sign(cert: &[u8]) -> Option<bool> {
        // A BIT STRING: the count of unused bits, then the bits from the first.
        match tlv(extension(cert, OID_KEY_USAGE)?)? {
            (0x03, [_, bits, ..], _) => Some(bits & 0x04 != 0),
            _ => Some(false),
        }
    }

    /// Whether the TBSCertificate gives no version (v1 is the default) or gives v1.
    pub fn is_version_one(cert: &[u8]) -> bool {
        let Some((_, cert, _)) = tlv(cert) else {
            return false;
        };
        match tlv(cert).and_then(|(_, tbs, _)| tlv(tbs)) {
            Some((0xa0, version, _)) => matches!(tlv(version), Some((0x02, [0], _))),
            Some(_) => true,
            None => false,
        }
    }

    /// What the issuer signed: the TBSCertificate (whole, as signed), the signature algorithm (its
    /// AlgorithmIdentifier's contents, as webpki names algorithms) and the signature.
    pub fn signed_parts(cert: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        let (_, cert, _) = tlv(cert)?;
        let (_, _, after_tbs) = tlv(cert)?;
        let tbs = &cert[..cert.len() - after_tbs.len()];
        let (0x30, algorithm, rest) = tlv(after_tbs)? else {
            return None;
        };
        // A BIT STRING with no unused bits.
        let (0x03, [0, signature @ ..], _) = tlv(rest)? else {
            return None;
        };
        Some((tbs, algorithm, signature))
    }

    /// What webpki keeps of a trust anchor: the subject's and the subjectPublicKeyInfo's contents.
    pub fn anchor_fields(cert: &[u8]) -> Option<(&[u8], &[u8])> {
        let [_, _, subject, rest] = tbs_fields(cert)?;
        let (_, spki, _) = tlv(rest)?;
        Some((subject, spki))
    }

    /// The issuer's distinguished name (its encoded contents).
    pub fn issuer(cert: &[u8]) -> Option<&[u8]> {
        tbs_fields(cert).map(|[issuer, ..]| issuer)
    }

    /// The subject's distinguished name (its encoded contents).
    pub fn subject(cert: &[u8]) -> Option<&[u8]> {
        tbs_fields(cert).map(|[_, _, subject, _]| subject)
    }

    pub fn is_self_issued(cert: &[u8]) -> bool {
        tbs_fields(cert).is_some_and(|[issuer, _, subject, _]| issuer == subject)
    }

    /// (notBefore, notAfter) in seconds since the epoch.
    pub fn validity(cert: &[u8]) -> Option<(i64, i64)> {
        let [_, validity, _, _] = tbs_fields(cert)?;
        let (t1, before, rest) = tlv(validity)?;
        let (t2, after, _) = tlv(rest)?;
        Some((time(t1, before)?, time(t2, after)?))
    }

    /// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
    fn time(tag: u8, s: &[u8]) -> Option<i64> {
        let digits = |s: &[u8]| -> Option<i64> {
            s.iter().try_fold(0i64, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as i64)
            })
        };
        let (year, rest) = match tag {
            0x17 if s.len() == 13 => {
                let yy = digits(&s[..2])?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
            }
            0x18 if s.len() == 15 => (digits(&s[..4])?, &s[4..]),
            _ => return None,
        };
        let [month, day, hour, min, sec] =
            [0, 2, 4, 6, 8].map(|i| digits(&rest[i..i + 2]).unwrap_or(-1));
        if month < 1 || day < 1 || hour < 0 || min < 0 || sec < 0 {
            return None;
        }
        Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn civil_days() {
            assert_eq!(super::days_from_civil(1970, 1, 1), 0);
            assert_eq!(super::days_from_civil(2000, 3, 1), 11_017);
            assert_eq!(super::time(0x17, b"491231235959Z"), Some(2_524_607_999));
            assert_eq!(super::time(0x18, b"20260101000000Z"), Some(1_767_225_600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name the certificate does not carry fails as `ERR_TLS_CERT_ALTNAME_INVALID`, with the leaf
    /// kept for Node's account of it, and found again behind the handshake's I/O error.
    #[test]
    fn a_name_mismatch_keeps_the_leaf() {
        use rustls::pki_types::pem::PemObject;
        let cert =
            CertificateDer::from_pem_slice(include_bytes!("../faces/testdata/localhost.pem"))
                .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let verifier = Verifier {
            trust: Trust::Verified {
                roots: Arc::new(roots),
                pinned: Arc::new(vec![cert.clone()]),
                links: Arc::default(),
                names: true,
            },
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            schemes: None,
            stapled: None,
        };
        let verify = |name: &str| {
            let name = ServerName::try_from(name.to_string()).unwrap();
            verifier.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
        };
        assert!(verify("localhost").is_ok());
        let err = verify("elsewhere.example").unwrap_err();
        assert_eq!(classify(&err).code(), "ERR_TLS_CERT_ALTNAME_INVALID");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        assert_eq!(
            NameMismatch::behind(&io).map(|m| m.leaf.as_slice()),
            Some(cert.as_ref())
        );
    }

    /// OpenSSL cipher strings select what `openssl ciphers -s` selects among rustls's suites, in its
    /// order, after TLS 1.3's (its names choose them; without any, rustls's own stay, as in Node).
    #[test]
    fn cipher_strings_read_as_openssl_reads_them() {
        let selected = |ciphers: &str| -> Vec<String> {
            with_ciphers(ciphers, false)
                .unwrap()
                .cipher_suites
                .iter()
                .map(|s| s.suite().as_str().unwrap().to_string())
                .collect()
        };
        let tls12_of = |ciphers: &str| -> Vec<String> {
            let all = selected(ciphers);
            assert_eq!(
                all[..3],
                [
                    "TLS13_AES_256_GCM_SHA384",
                    "TLS13_CHACHA20_POLY1305_SHA256",
                    "TLS13_AES_128_GCM_SHA256"
                ],
                "{ciphers}"
            );
            all[3..].to_vec()
        };
        let all12 = [
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ];
        assert_eq!(tls12_of("HIGH:!aNULL:!eNULL:!MD5"), all12);
        assert_eq!(tls12_of("ALL@SECLEVEL=0"), all12);
        assert_eq!(
            tls12_of("ECDHE+AESGCM:!aECDSA"),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            tls12_of("AES128:CHACHA20:-aRSA:+CHACHA20"),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        // Removed for good with `!`: a later word does not bring it back (with `-` it does).
        assert_eq!(
            tls12_of("!aECDSA:ALL:SHA384"),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(tls12_of("-aECDSA:SHA384").len(), 2);
        // Node's default list: its TLS 1.3 names in its order, then the TLS 1.2 suites rustls has.
        assert_eq!(
            selected("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL")[..4],
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS13_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            selected("TLS_AES_128_GCM_SHA256"),
            ["TLS13_AES_128_GCM_SHA256"]
        );
        assert_eq!(selected("").len(), 9);
        for nothing in ["FOO", "!ALL", "AES256-SHA:kRSA", "@STRENGTH"] {
            let err = with_ciphers(nothing, false).map(|_| ()).unwrap_err();
            assert_eq!(err.code(), "ERR_SSL_NO_CIPHER_MATCH", "{nothing}");
        }
        // A suite Node's OpenSSL has and rustls lacks: TLS 1.3 keeps its own, as in Node.
        let tls13_only = with_ciphers("AES256-SHA", true).unwrap();
        let names: Vec<String> = tls13_only
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            names,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS13_AES_128_GCM_SHA256"
            ]
        );
    }

    /// `ecdhCurve` lists offer their groups in the order given, by OpenSSL's names or NIST's; names
    /// rustls lacks offer nothing, and a list of only those is refused.
    #[test]
    fn curve_lists_offer_what_they_name() {
        let names = |curves: &str| -> Vec<String> {
            with_curves(&provider(), curves)
                .unwrap()
                .kx_groups
                .iter()
                .map(|g| format!("{:?}", g.name()))
                .collect()
        };
        assert_eq!(names("P-384:x25519"), ["secp384r1", "X25519"]);
        assert_eq!(names("prime256v1:secp521r1:P-256"), ["secp256r1"]);
        let err = with_curves(&provider(), "secp521r1:X448").unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    }

    #[test]
    fn sigalgs_name_what_openssl_names() {
        use SignatureScheme as S;
        let all = provider()
            .signature_verification_algorithms
            .supported_schemes();
        let schemes = |list: &str| signature_schemes(list, &all);
        assert_eq!(
            schemes("PSS+SHA384:ecdsa_secp256r1_sha256:ed448:RSA+SHA512:RSA-PSS+SHA384").unwrap(),
            [
                S::RSA_PSS_SHA384,
                S::ECDSA_NISTP256_SHA256,
                S::RSA_PKCS1_SHA512
            ]
        );
        for refused in ["ed448:RSA+SHA1", "", "RSA+SHA256:FOO"] {
            assert_eq!(
                schemes(refused).unwrap_err().code(),
                "ERR_INVALID_ARG_VALUE"
            );
        }
    }

    /// Runs `openssl` as a user would, each command in turn in one fresh folder, and returns the
    /// certificates and keys it made there (and any `.bin` file), by file name without its extension.
    fn openssl(commands: &[String]) -> HashMap<String, Vec<u8>> {
        // One folder per call: tests run on several threads of one process.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ka-certs-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for command in commands {
            let args: Vec<&str> = command.split(' ').collect();
            let status = std::process::Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {command}");
        }
        let made = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                // `ca.srl` beside `ca.pem`: only the PEM files, and what a test names `.bin`.
                path.extension().filter(|e| *e == "pem" || *e == "bin")?;
                let pem = std::fs::read(&path).ok()?;
                Some((path.file_stem()?.to_str()?.to_string(), pem))
            })
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        made
    }

    /// Handshake signatures by a 1024-bit RSA key, which ring refuses, verify by each scheme rustls
    /// offers, and by a 2000-bit one; a signature by another key, a damaged one, or one by a key ring
    /// takes do not.
    #[test]
    fn short_rsa_keys_sign_handshakes_that_verify_and_forgeries_do_not() {
        let sign = |key: &str, digest: &str, pss: bool, out: &str| {
            let pss = if pss {
                " -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest"
            } else {
                ""
            };
            format!("dgst -{digest} -sign {key}-key.pem{pss} -out {out}.bin message.bin")
        };
        let mut commands = vec![
            "rand -out message.bin 200".to_string(),
            "genrsa -out short-key.pem 1024".into(),
            "genrsa -out other-key.pem 1024".into(),
            "genrsa -out long-key.pem 2048".into(),
            "genrsa -out mid-key.pem 2000".into(),
            "pkey -in mid-key.pem -pubout -out mid.pem".into(),
            sign("mid", "sha256", true, "mid-signed"),
            "pkey -in short-key.pem -pubout -out short.pem".into(),
            "pkey -in long-key.pem -pubout -out long.pem".into(),
            sign("other", "sha256", true, "forged"),
            sign("long", "sha256", true, "long-signed"),
        ];
        let schemes = [
            (SignatureScheme::RSA_PKCS1_SHA256, "sha256", false),
            (SignatureScheme::RSA_PKCS1_SHA384, "sha384", false),
            (SignatureScheme::RSA_PKCS1_SHA512, "sha512", false),
            (SignatureScheme::RSA_PSS_SHA256, "sha256", true),
            // (PSS with SHA-512 and its 64-byte salt needs a key over 1040 bits.)
            (SignatureScheme::RSA_PSS_SHA384, "sha384", true),
        ];
        for (scheme, digest, pss) in schemes {
            commands.push(sign("short", digest, pss, &format!("{scheme:?}")));
        }
        let made = openssl(&commands);
        let message = &made["message"];
        let verifies = |key: &str, scheme: SignatureScheme, signature: &[u8]| {
            let spki = SubjectPublicKeyInfoDer::from_pem_slice(&made[key]).unwrap();
            let key = webpki::RawPublicKeyEntity::try_from(&spki).unwrap();
            let (_, algorithms) = short_rsa::ALGORITHMS
                .mapping
                .iter()
                .find(|(s, _)| *s == scheme)
                .unwrap();
            key.verify_signature(algorithms[0], message, signature)
                .is_ok()
        };
        for (scheme, ..) in schemes {
            let signature = &made[&format!("{scheme:?}")];
            assert!(verifies("short", scheme, signature), "{scheme:?}");
            let mut damaged = signature.clone();
            damaged[40] ^= 1;
            assert!(!verifies("short", scheme, &damaged), "{scheme:?} damaged");
            // Another scheme's signature, over the same message by the same key.
            let other = if scheme == SignatureScheme::RSA_PSS_SHA256 {
                SignatureScheme::RSA_PKCS1_SHA256
            } else {
                SignatureScheme::RSA_PSS_SHA256
            };
            assert!(
                !verifies("short", other, signature),
                "{scheme:?} as {other:?}"
            );
        }
        let pss = SignatureScheme::RSA_PSS_SHA256;
        assert!(
            !verifies("short", pss, &made["forged"]),
            "signed by another key"
        );
        // A 2000-bit key (stored in 2048 bits' worth of words) is still this path's; 2048 bits are ring's.
        assert!(verifies("mid", pss, &made["mid-signed"]));
        assert!(!verifies("long", pss, &made["long-signed"]));
    }

    /// OpenSSL's judgement of an issuer, and a v1 leaf verified against the trusted certificate that
    /// signed it, not one that only carries its issuer's name.
    #[test]
    fn issuers_are_judged_as_openssl_judges_them() {
        let root = |name: &str, ext: &str| {
            format!("req -x509 -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout {name}-key.pem -out {name}.pem -addext {ext}")
        };
        let certs = openssl(&[
            root("ca", "basicConstraints=critical,CA:TRUE"),
            root("other", "basicConstraints=critical,CA:TRUE"),
            root("not-ca", "basicConstraints=critical,CA:FALSE"),
            root("no-sign", "keyUsage=critical,digitalSignature"),
            // `-config /dev/null` leaves out the default basicConstraints.
            "req -x509 -config /dev/null -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout signs-key.pem -out signs.pem -addext keyUsage=critical,keyCertSign".into(),
            "req -x509 -config /dev/null -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout bare-key.pem -out bare.pem -addext subjectKeyIdentifier=hash".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out csr.pem".into(),
            "x509 -req -in csr.pem -signkey key.pem -days 2 -out v1-root.pem".into(),
            "x509 -req -in csr.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out leaf.pem".into(),
        ]);
        let cert = |name: &str| CertificateDer::from_pem_slice(&certs[name]).unwrap();
        assert_eq!(unsuitable_issuer(&cert("ca")), None);
        assert_eq!(
            unsuitable_issuer(&cert("not-ca")),
            Some(ChainRefused::UNSUITABLE_PURPOSE)
        );
        assert_eq!(
            unsuitable_issuer(&cert("no-sign")),
            Some(ChainRefused::KEY_USAGE)
        );
        // No basicConstraints: a keyUsage with keyCertSign makes it a CA, and a v1 root; a v3 one without
        // either, or a v1 certificate issued by another, is none.
        assert_eq!(der::basic_constraints_ca(&cert("signs")), None);
        assert_eq!(unsuitable_issuer(&cert("signs")), None);
        assert_eq!(
            unsuitable_issuer(&cert("bare")),
            Some(ChainRefused::UNSUITABLE_PURPOSE)
        );
        assert_eq!(unsuitable_issuer(&cert("v1-root")), None);
        assert_eq!(
            unsuitable_issuer(&cert("leaf")),
            Some(ChainRefused::UNSUITABLE_PURPOSE)
        );
        assert!(der::is_version_one(&cert("leaf")) && !der::is_version_one(&cert("ca")));

        let verifier = verifier(
            &TlsOptions::default(),
            provider().signature_verification_algorithms,
            None,
        )
        .unwrap();
        let now = UnixTime::now();
        let leaf = cert("leaf");
        assert_eq!(
            verifier.issued_by_trusted(&leaf, &[cert("other"), cert("ca")], now),
            Ok(Constrained(false))
        );
        let refused = |trusted: &[CertificateDer<'static>]| match verifier
            .issued_by_trusted(&leaf, trusted, now)
        {
            Err(err) => classify(&err).code(),
            Ok(_) => "verified",
        };
        assert_eq!(refused(&[cert("other")]), "CERT_SIGNATURE_FAILURE");
        assert_eq!(refused(&[cert("not-ca")]), "INVALID_PURPOSE");
        assert_eq!(
            refused(&[cert("v1-root")]),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        );
        assert_eq!(refused(&[]), "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    }

    /// With `rejectUnauthorized: false` the chain is still judged, as Node's `socket.authorized` needs,
    /// and without the host name (Node checks it in JS); a verifying route has no judge.
    #[test]
    fn chains_are_judged_where_any_is_accepted() {
        let certs = openssl(&[
            "req -x509 -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout ca-key.pem -out ca.pem -addext basicConstraints=critical,CA:TRUE".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=other.example -keyout key.pem -out csr.pem".into(),
            "x509 -req -in csr.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out leaf.pem".into(),
        ]);
        let leaf = CertificateDer::from_pem_slice(&certs["leaf"])
            .unwrap()
            .to_vec();
        let lax = |ca: Option<Vec<Vec<u8>>>| {
            ChainJudge::of(&TlsOptions {
                ca,
                ..TlsOptions::default()
            })
            .unwrap()
            .expect("a route that accepts any certificate has a judge")
        };
        let trusting = lax(Some(vec![certs["ca"].clone()]));
        assert!(trusting.judge(std::slice::from_ref(&leaf)).is_ok());
        let code = |judge: &ChainJudge, chain: &[Vec<u8>]| judge.judge(chain).unwrap_err().code();
        assert_eq!(
            code(&lax(Some(vec![])), &[leaf]),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        );
        assert_eq!(code(&trusting, &[]), "EPROTO");
        let verifying = TlsOptions {
            reject_unauthorized: true,
            ..TlsOptions::default()
        };
        assert!(ChainJudge::of(&verifying).unwrap().is_none());
    }

    /// The DER of the certificate `openssl` made as `name`.pem.
    fn der_of(certs: &HashMap<String, Vec<u8>>, name: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(&certs[name])
            .unwrap()
            .to_vec()
    }

    /// A judge of chains (as `rejectUnauthorized: false` keeps one) that trusts the PEM `ca` alone.
    fn judge_trusting(ca: &[u8]) -> ChainJudge {
        ChainJudge::of(&TlsOptions {
            ca: Some(vec![ca.to_vec()]),
            ..TlsOptions::default()
        })
        .unwrap()
        .expect("a route that accepts any certificate has a judge")
    }

    /// RSA keys under 2048 bits, which ring cannot verify with, are refused as OpenSSL at Node 24's
    /// security level refuses them: the server's own, or an issuer's.
    #[test]
    fn short_rsa_keys_are_refused_as_node_24_refuses_them() {
        let certs = openssl(&[
            "req -x509 -newkey rsa:1024 -nodes -subj /CN=localhost -days 2 -keyout short-key.pem -out short.pem".into(),
            "req -x509 -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout ca-key.pem -out ca.pem -addext basicConstraints=critical,CA:TRUE".into(),
            "req -x509 -newkey rsa:1024 -nodes -subj /CN=Short -days 2 -keyout short-ca-key.pem -out short-ca.pem -addext basicConstraints=critical,CA:TRUE".into(),
            "req -new -newkey rsa:1024 -nodes -subj /CN=localhost -keyout a-key.pem -out a.csr -addext subjectAltName=DNS:localhost".into(),
            "x509 -req -in a.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -copy_extensions copy -out short-leaf.pem".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout b-key.pem -out b.csr -addext subjectAltName=DNS:localhost".into(),
            "x509 -req -in b.csr -CA short-ca.pem -CAkey short-ca-key.pem -CAcreateserial -days 2 -copy_extensions copy -out under-short.pem".into(),
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -days 2 -keyout ec-key.pem -out ec.pem".into(),
        ]);
        let der = |name: &str| der_of(&certs, name);
        assert_eq!(der::rsa_key_bits(&der("short")), Some(1024));
        assert_eq!(der::rsa_key_bits(&der("ca")), Some(2048));
        assert_eq!(der::rsa_key_bits(&der("ec")), None);
        let judged = |ca: &str, chain: &[Vec<u8>]| {
            let err = judge_trusting(&certs[ca]).judge(chain).unwrap_err();
            (err.code(), err.message().to_string())
        };
        let ee = ("UNSPECIFIED", "EE certificate key too weak".to_string());
        let ca = ("UNSPECIFIED", "CA certificate key too weak".to_string());
        assert_eq!(judged("short", &[der("short")]), ee);
        assert_eq!(judged("ca", &[der("short-leaf")]), ee);
        assert_eq!(judged("short-ca", &[der("under-short")]), ca);
    }

    /// A certificate signed with SHA-1 under a trusted CA is refused as Node refuses it (every version).
    #[test]
    fn sha1_signatures_are_refused_as_node_refuses_them() {
        let certs = openssl(&[
            "req -x509 -newkey rsa:2048 -nodes -subj /CN=CA -days 2 -keyout ca-key.pem -out ca.pem -addext basicConstraints=critical,CA:true".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out csr.pem -addext subjectAltName=DNS:localhost".into(),
            "x509 -req -sha1 -in csr.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -copy_extensions copy -out leaf.pem".into(),
            "x509 -req -sha256 -in csr.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -copy_extensions copy -out good.pem".into(),
        ]);
        let der = |name: &str| der_of(&certs, name);
        let algorithm = |name: &str| der::signed_parts(&der(name)).unwrap().1.to_vec();
        assert!(weak_digest(&algorithm("leaf")));
        assert!(!weak_digest(&algorithm("good")));
        let judge = judge_trusting(&certs["ca"]);
        assert!(judge.judge(&[der("good")]).is_ok());
        let err = judge.judge(&[der("leaf")]).unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            ("UNSPECIFIED", "CA signature digest algorithm too weak")
        );
    }

    /// A chain stands only up to a trusted root, as OpenSSL without its partial-chain flag judges it
    /// (Node's): a trusted intermediate, or a trusted leaf issued by another, ends none; trusted links
    /// complete a chain the server left short; each failure carries OpenSSL's code.
    #[test]
    fn chains_end_at_trusted_roots_as_in_openssl() {
        let certs = openssl(&[
            "req -x509 -newkey rsa:2048 -nodes -subj /CN=Root -days 2 -keyout root-key.pem -out root.pem -addext basicConstraints=critical,CA:TRUE".into(),
            "req -x509 -newkey rsa:2048 -nodes -subj /CN=Other -days 2 -keyout other-key.pem -out other.pem -addext basicConstraints=critical,CA:TRUE".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=Intermediate -keyout int-key.pem -out int.csr -addext basicConstraints=critical,CA:TRUE".into(),
            "x509 -req -in int.csr -CA root.pem -CAkey root-key.pem -CAcreateserial -days 2 -copy_extensions copy -out int.pem".into(),
            "req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr -addext subjectAltName=DNS:localhost".into(),
            "x509 -req -in leaf.csr -CA int.pem -CAkey int-key.pem -CAcreateserial -days 2 -copy_extensions copy -out leaf.pem".into(),
        ]);
        let der = |name: &str| {
            CertificateDer::from_pem_slice(&certs[name])
                .unwrap()
                .to_vec()
        };
        let outcome = |trusted: &[&str], sent: &[&str]| {
            let ca = trusted.iter().map(|name| certs[*name].clone()).collect();
            let judge = ChainJudge::of(&TlsOptions {
                ca: Some(ca),
                ..TlsOptions::default()
            })
            .unwrap()
            .unwrap();
            let chain: Vec<Vec<u8>> = sent.iter().map(|name| der(name)).collect();
            judge.judge(&chain).map_or_else(|e| e.code(), |()| "ok")
        };
        assert_eq!(outcome(&["root"], &["leaf", "int"]), "ok");
        // A trusted intermediate completes a chain the server left short, up to the trusted root.
        assert_eq!(outcome(&["root", "int"], &["leaf"]), "ok");
        assert_eq!(
            outcome(&["int"], &["leaf", "int"]),
            "UNABLE_TO_GET_ISSUER_CERT"
        );
        assert_eq!(
            outcome(&["leaf"], &["leaf", "int"]),
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        );
        assert_eq!(
            outcome(&["leaf", "root"], &["leaf"]),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        );
        assert_eq!(
            outcome(&["other"], &["leaf", "int"]),
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        );
        assert_eq!(
            outcome(&["other"], &["leaf", "int", "root"]),
            "SELF_SIGNED_CERT_IN_CHAIN"
        );
        assert_eq!(
            outcome(&["other"], &["leaf"]),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        );
    }

    /// The CN fallback matches as Node's `checkServerIdentity` does.
    #[test]
    fn names_match_as_node_matches_them() {
        assert!(host_matches("localhost", "localhost"));
        assert!(host_matches("WWW.Example.com.", "www.example.com"));
        assert!(host_matches("api.example.com", "*.example.com"));
        assert!(host_matches("api1.example.com", "api*.example.com"));
        assert!(!host_matches("a.b.example.com", "*.example.com"));
        assert!(!host_matches("example.com", "*.com"));
        assert!(!host_matches("example.com", "*.example.com"));
        assert!(!host_matches("other.example.com", "www.example.com"));
        assert!(!host_matches("xn--a.example.com", "xn--*.example.com"));
    }
}
