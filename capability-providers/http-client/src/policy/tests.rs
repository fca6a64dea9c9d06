use super::*;

fn policy(pairs: &[(&str, &str)]) -> Policy {
    let config = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Policy::from_config(&config, vec!["127.0.0.1:4222".parse().unwrap()]).unwrap()
}

fn allowed(p: &Policy, uri: &str) -> Result<Destination, OutboundError> {
    p.check_uri(&uri.parse().unwrap())
}

#[test]
fn no_allowed_hosts_allows_nothing_and_says_how() {
    let p = policy(&[]);
    let err = allowed(&p, "https://example.com/").unwrap_err().to_string();
    assert!(err.contains("no allowed_hosts"), "{err}");
}

#[test]
fn a_pattern_without_port_means_the_schemes_default_port() {
    let p = policy(&[("allowed_hosts", "example.com")]);
    assert!(allowed(&p, "https://example.com/x").is_ok());
    assert!(allowed(&p, "http://example.com/x").is_ok());
    let err = allowed(&p, "http://example.com:8080/")
        .unwrap_err()
        .to_string();
    assert!(err.contains("add `example.com:8080`"), "{err}");
}

#[test]
fn scheme_port_and_wildcards() {
    let p = policy(&[(
        "allowed_hosts",
        "https://*.example.com, api.test:*, *://other.test:8443",
    )]);
    assert!(allowed(&p, "https://a.example.com/").is_ok());
    assert!(allowed(&p, "https://a.b.example.com/").is_ok());
    assert!(allowed(&p, "http://a.example.com/").is_err());
    assert!(allowed(&p, "https://example.com/").is_err());
    assert!(allowed(&p, "https://badexample.com/").is_err());
    assert!(allowed(&p, "http://api.test:1234/").is_ok());
    assert!(allowed(&p, "http://API.TEST./").is_ok());
    assert!(allowed(&p, "https://other.test:8443/").is_ok());
    assert!(allowed(&p, "https://other.test/").is_err());
}

#[test]
fn loopback_needs_the_address_itself_not_a_wildcard() {
    let p = policy(&[("allowed_hosts", "*:*")]);
    let err = allowed(&p, "http://127.0.0.1:9000/").unwrap_err();
    assert!(matches!(err, OutboundError::IpProhibited { .. }), "{err}");
    let err = allowed(&p, "http://[::ffff:127.0.0.1]:9000/").unwrap_err();
    assert!(matches!(err, OutboundError::IpProhibited { .. }), "{err}");
    assert!(allowed(&p, "http://10.1.2.3:9000/").is_ok());

    let p = policy(&[("allowed_hosts", "127.0.0.1:9000")]);
    assert!(allowed(&p, "http://127.0.0.1:9000/").is_ok());
    assert!(allowed(&p, "http://127.0.0.1:9001/").is_err());
}

#[test]
fn the_nats_server_is_refused_even_when_named() {
    let p = policy(&[("allowed_hosts", "127.0.0.1:4222")]);
    let err = allowed(&p, "http://127.0.0.1:4222/")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NATS"), "{err}");
}

#[test]
fn deny_cidrs_replaces_the_defaults() {
    let p = policy(&[("allowed_hosts", "*:*"), ("deny_cidrs", "10.0.0.0/8")]);
    assert!(allowed(&p, "http://127.0.0.1:9000/").is_ok());
    assert!(allowed(&p, "http://10.9.9.9/").is_err());
}

#[test]
fn bad_config_names_the_key_and_the_entry() {
    let config = |k: &str, v: &str| [(k.to_owned(), v.to_owned())].into_iter().collect();
    for (key, value, says) in [
        ("allowed_hosts", "http://a.test/path", "has a path"),
        ("allowed_hosts", "a.test:99999", "not 1-65535"),
        ("allowed_hosts", "ftp://a.test", "scheme other than"),
        ("allowed_hosts", "a*.test", "not a host name"),
        ("deny_cidrs", "10.0.0.0/99", "not a CIDR"),
        ("max_response_bytes", "lots", "not a whole number"),
        ("connect_timeout_ms", "0", "milliseconds > 0"),
    ] {
        let err = Policy::from_config(&config(key, value), vec![]).unwrap_err();
        assert!(err.contains(key) && err.contains(says), "{err}");
    }
    let many = vec!["a.test"; MAX_RULES + 1].join(",");
    let err = Policy::from_config(&config("allowed_hosts", &many), vec![]).unwrap_err();
    assert!(err.contains("at most"), "{err}");
}

#[test]
fn uris_without_host_or_with_other_schemes_are_invalid() {
    let p = policy(&[("allowed_hosts", "*:*")]);
    assert!(matches!(
        allowed(&p, "ftp://a.test/"),
        Err(OutboundError::InvalidUri(_))
    ));
    assert!(matches!(
        allowed(&p, "/relative"),
        Err(OutboundError::InvalidUri(_))
    ));
}

#[test]
fn resolve_names_an_address_for_a_host_and_ca_file_must_be_absolute() {
    let p = policy(&[
        ("allowed_hosts", "dog.ceo"),
        (
            "resolve",
            "Dog.Ceo:443=127.0.0.1:9443, api.test:80=[::1]:8080",
        ),
        ("ca_file", "/etc/ssl/private-ca.pem"),
    ]);
    let d = allowed(&p, "https://dog.ceo/api").unwrap();
    let addr = p.resolved(&d).unwrap();
    assert_eq!(addr, "127.0.0.1:9443".parse().unwrap());
    // Named by the operator: past deny_cidrs (loopback), never past NATS.
    assert!(p.check_addr(&d, addr, true).is_ok());
    assert!(
        p.check_addr(&d, "127.0.0.1:4222".parse().unwrap(), true)
            .is_err()
    );
    // Another port of the same name is resolved as usual.
    let other = allowed(&p, "http://dog.ceo/").unwrap();
    assert_eq!(p.resolved(&other), None);
    assert_eq!(
        p.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ssl/private-ca.pem"))
    );
    for (key, value, words) in [
        ("resolve", "dog.ceo=127.0.0.1:1", "HOST:PORT=IP:PORT"),
        ("resolve", "dog.ceo:443=localhost:1", "HOST:PORT=IP:PORT"),
        ("resolve", "10.0.0.1:443=127.0.0.1:1", "HOST:PORT=IP:PORT"),
        ("ca_file", "certs/ca.pem", "absolute path"),
    ] {
        let config = [(key.to_string(), value.to_string())].into_iter().collect();
        let err = Policy::from_config(&config, Vec::new()).unwrap_err();
        assert!(err.contains(words), "{key}={value}: {err}");
    }
}
