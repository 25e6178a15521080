use super::*;

#[test]
fn only_hash_lengths_make_a_secret() {
    assert!(ExporterSecret::new(&[1; 32]).is_some());
    assert!(ExporterSecret::new(&[1; 48]).is_some());
    for len in [0, 16, 31, 33, 47, 64] {
        assert!(ExporterSecret::new(&vec![1; len]).is_none(), "{len}");
    }
}

#[test]
fn labels_and_outputs_beyond_hkdf_expand_label_are_refused() {
    let secret = ExporterSecret::new(&[3; 32]).unwrap();
    let mut out = [0u8; 16];
    assert_eq!(
        secret.export(&[b'a'; 250], b"", &mut out),
        Err(ExportError::TooLong)
    );
    assert_eq!(secret.export(&[b'a'; 249], b"", &mut out), Ok(()));
    let mut big = vec![0u8; 255 * 32 + 1];
    assert_eq!(
        secret.export(b"l", b"", &mut big),
        Err(ExportError::TooLong)
    );
    assert_eq!(secret.export(b"l", b"", &mut big[..255 * 32]), Ok(()));
}

#[test]
fn the_output_depends_on_every_input() {
    let secret = ExporterSecret::new(&[3; 32]).unwrap();
    let run = |secret: &ExporterSecret, label: &[u8], context: &[u8]| {
        let mut out = [0u8; 56];
        secret.export(label, context, &mut out).unwrap();
        out
    };
    let base = run(&secret, b"label", b"context");
    assert_eq!(base, run(&secret, b"label", b"context"));
    assert_ne!(base, run(&secret, b"label2", b"context"));
    assert_ne!(base, run(&secret, b"label", b"context2"));
    assert_ne!(
        base,
        run(
            &ExporterSecret::new(&[4; 32]).unwrap(),
            b"label",
            b"context"
        )
    );
    // A shorter output is a prefix of a longer one (HKDF-Expand), but the length is in the
    // info, so it is not.
    let mut short = [0u8; 16];
    secret.export(b"label", b"context", &mut short).unwrap();
    assert_ne!(short, base[..16]);
}

#[test]
fn the_capture_keeps_only_the_exporter_secret_and_marks_two_as_unusable() {
    let capture = ExporterCapture;
    assert!(capture.will_log("EXPORTER_SECRET"));
    assert!(!capture.will_log("CLIENT_TRAFFIC_SECRET_0"));
    assert!(slot_is_empty());
    capture.log("SERVER_TRAFFIC_SECRET_0", &[0; 32], &[1; 32]);
    assert!(slot_is_empty());
    capture.log("EXPORTER_SECRET", &[0; 32], &[1; 32]);
    assert!(take_captured().is_some_and(|s| s.is_usable()));
    assert!(slot_is_empty());
    capture.log("EXPORTER_SECRET", &[0; 32], &[1; 32]);
    capture.log("EXPORTER_SECRET", &[0; 32], &[2; 32]);
    assert!(take_captured().is_some_and(|s| !s.is_usable()));
    capture.log("EXPORTER_SECRET", &[0; 32], &[1; 20]);
    let odd = take_captured().unwrap();
    assert!(!odd.is_usable());
    assert_eq!(
        odd.export(b"l", b"", &mut [0; 8]),
        Err(ExportError::Unusable)
    );
    assert!(
        !format!("{odd:?}").contains('1'),
        "the secret is never shown"
    );
}
