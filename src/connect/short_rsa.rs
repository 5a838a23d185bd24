//! Handshake signatures made with RSA keys of 1024 to 2047 bits, which ring refuses to verify with.
//!
//! Node's own client still connects to a server with such a key when it is told not to verify the
//! certificate (`rejectUnauthorized: false`; Node 20 and 22 even verify chains with them, Node 24's
//! OpenSSL security level refuses them as we do, see `ChainRefused::EE_KEY_TOO_SMALL`). Old appliances
//! and internal servers still carry 1024-bit keys, and without this their handshake failed whatever the
//! options said. The signature itself is still checked: code that pins a certificate by its fingerprint
//! over an unverified connection must not be fooled by a server that shows the certificate without
//! holding its key. Only public-key operations are done here (the `rsa` crate's timing advisory
//! concerns private-key ones).

use rsa::pkcs1::der::oid::AssociatedOid;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::sha2::digest::FixedOutputReset;
use rsa::sha2::{Sha256, Sha384, Sha512};
use rsa::signature::Verifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use rustls::SignatureScheme;

/// How the signature is padded, and with which digest.
#[derive(Debug, Clone, Copy)]
enum Scheme {
    Pkcs1(Digest),
    Pss(Digest),
}

#[derive(Debug, Clone, Copy)]
enum Digest {
    Sha256,
    Sha384,
    Sha512,
}

/// One of the RSA signature schemes TLS uses, for keys ring refuses (1024 to 2047 bits); a longer key
/// is ring's to verify, a shorter one is refused here too.
#[derive(Debug)]
struct ShortRsa(Scheme);

impl ShortRsa {
    fn verify(&self, key: rsa::PublicKey, message: &[u8], signature: &[u8]) -> Option<()> {
        let (pss, digest) = match self.0 {
            Scheme::Pkcs1(digest) => (false, digest),
            Scheme::Pss(digest) => (true, digest),
        };
        match digest {
            Digest::Sha256 => verify_with::<Sha256>(pss, key, message, signature),
            Digest::Sha384 => verify_with::<Sha384>(pss, key, message, signature),
            Digest::Sha512 => verify_with::<Sha512>(pss, key, message, signature),
        }
    }
}

/// `signature` over `message` by `key`, padded with PSS (TLS's salt, as long as the digest, is what
/// `VerifyingKey::new` expects) or PKCS#1 v1.5, digested with `D`.
fn verify_with<D>(pss: bool, key: rsa::PublicKey, message: &[u8], signature: &[u8]) -> Option<()>
where
    D: rsa::sha2::Digest + FixedOutputReset + AssociatedOid,
{
    if pss {
        let signature = rsa::pss::Signature::try_from(signature).ok()?;
        rsa::pss::VerifyingKey::<D>::new(key).verify(message, &signature)
    } else {
        let signature = rsa::pkcs1v15::Signature::try_from(signature).ok()?;
        rsa::pkcs1v15::VerifyingKey::<D>::new(key).verify(message, &signature)
    }
    .ok()
}

impl SignatureVerificationAlgorithm for ShortRsa {
    /// `public_key`: the RSAPublicKey of the subjectPublicKeyInfo (PKCS#1 DER).
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        // The crate takes 1024 bits and up; ring takes moduli of 256 bytes and up (2041 bits and up: the
        // byte length counts, not `n_bits_precision`, which rounds up to 64-bit words).
        let key = rsa::PublicKey::from_pkcs1_der(public_key).map_err(|_| InvalidSignature)?;
        if rsa::traits::PublicKeyParts::size(&key) >= 256 {
            return Err(InvalidSignature);
        }
        self.verify(key, message, signature).ok_or(InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.0 {
            Scheme::Pkcs1(Digest::Sha256) => alg_id::RSA_PKCS1_SHA256,
            Scheme::Pkcs1(Digest::Sha384) => alg_id::RSA_PKCS1_SHA384,
            Scheme::Pkcs1(Digest::Sha512) => alg_id::RSA_PKCS1_SHA512,
            Scheme::Pss(Digest::Sha256) => alg_id::RSA_PSS_SHA256,
            Scheme::Pss(Digest::Sha384) => alg_id::RSA_PSS_SHA384,
            Scheme::Pss(Digest::Sha512) => alg_id::RSA_PSS_SHA512,
        }
    }
}

static PKCS1_SHA256: ShortRsa = ShortRsa(Scheme::Pkcs1(Digest::Sha256));
static PKCS1_SHA384: ShortRsa = ShortRsa(Scheme::Pkcs1(Digest::Sha384));
static PKCS1_SHA512: ShortRsa = ShortRsa(Scheme::Pkcs1(Digest::Sha512));
static PSS_SHA256: ShortRsa = ShortRsa(Scheme::Pss(Digest::Sha256));
static PSS_SHA384: ShortRsa = ShortRsa(Scheme::Pss(Digest::Sha384));
static PSS_SHA512: ShortRsa = ShortRsa(Scheme::Pss(Digest::Sha512));

/// The RSA schemes rustls offers, for keys of 1024 to 2047 bits (TLS 1.3 takes the PSS ones only).
pub static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        &PKCS1_SHA256,
        &PKCS1_SHA384,
        &PKCS1_SHA512,
        &PSS_SHA256,
        &PSS_SHA384,
        &PSS_SHA512,
    ],
    mapping: &[
        (SignatureScheme::RSA_PSS_SHA512, &[&PSS_SHA512]),
        (SignatureScheme::RSA_PSS_SHA384, &[&PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA256, &[&PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[&PKCS1_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[&PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[&PKCS1_SHA256]),
    ],
};
