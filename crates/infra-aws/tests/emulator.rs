//! The emulator harness itself: it starts on loopback, answers, and stops
//! when dropped.

use std::net::TcpStream;

use infra_aws::testing::Emulator;

#[test]
fn starts_on_loopback_and_stops_when_dropped() {
    let emulator = Emulator::start();
    let endpoint = emulator.endpoint().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let addr = endpoint.trim_start_matches("http://").to_owned();
    assert!(TcpStream::connect(&addr).is_ok());
    drop(emulator);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(TcpStream::connect(&addr).is_err(), "the server is gone");
}
