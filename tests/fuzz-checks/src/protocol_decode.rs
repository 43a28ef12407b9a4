//! Arbitrary bytes as a `SyncRequest` and as a `SyncResponse` frame with the default
//! limits: decoding never panics, and whatever decodes re-encodes to bytes that decode
//! to the same value (the encoder accepts everything the decoder accepts).

use rapport_protocol::{Limits, SyncRequest, SyncResponse};

/// Decodes `data` as a request and as a response; panics when a decoded frame does not
/// re-encode to an equal value in at most as many bytes.
pub fn check(data: &[u8]) {
    let limits = Limits::DEFAULT;
    if let Ok(request) = SyncRequest::decode(data, &limits) {
        let bytes = request
            .encode(&limits)
            .expect("a decoded request re-encodes");
        // The format has one encoding per value (minimal varints aside): the decoder
        // accepts non-minimal LEB128, so compare values, not bytes.
        let again = SyncRequest::decode(&bytes, &limits).expect("a re-encoded request decodes");
        assert_eq!(again, request, "request round trip");
        assert!(bytes.len() <= data.len(), "re-encoding never grows a frame");
    }
    if let Ok(response) = SyncResponse::decode(data, &limits) {
        let bytes = response
            .encode(&limits)
            .expect("a decoded response re-encodes");
        let again = SyncResponse::decode(&bytes, &limits).expect("a re-encoded response decodes");
        assert_eq!(again, response, "response round trip");
        assert!(bytes.len() <= data.len(), "re-encoding never grows a frame");
    }
}
