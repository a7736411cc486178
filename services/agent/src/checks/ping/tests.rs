use super::*;

#[test]
fn durations_print_like_go() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(999), "999ns"),
        (Duration::from_nanos(52_300), "52.3µs"),
        (Duration::from_micros(52), "52µs"),
        (Duration::from_nanos(1_234_567), "1.234567ms"),
        (Duration::from_millis(2), "2ms"),
        (Duration::from_millis(2_500), "2.5s"),
        (Duration::from_nanos(1_000_000_001), "1.000000001s"),
    ];
    for (d, want) in cases {
        assert_eq!(go_duration(d), want, "{d:?}");
    }
}

fn reply(seq: u16, micros: u64) -> Reply {
    Reply {
        seq,
        bytes: 556,
        rtt: Duration::from_micros(micros),
    }
}

#[test]
fn the_output_is_go_pings_summary() {
    let session = Session {
        host: "localhost".into(),
        addr: "127.0.0.1".parse().unwrap(),
        sent: 3,
        replies: vec![reply(0, 40), reply(1, 50), reply(2, 60)],
    };
    assert!(session.passing());
    assert_eq!(
        session.output(),
        "556 bytes from 127.0.0.1: icmp_seq=0 time=40µs\n\
         556 bytes from 127.0.0.1: icmp_seq=1 time=50µs\n\
         556 bytes from 127.0.0.1: icmp_seq=2 time=60µs\n\
         \n--- localhost ping statistics ---\n\
         3 packets transmitted, 3 packets received, 0% packet loss\n\
         round-trip min/avg/max/stddev = 40µs/50µs/60µs/8.164µs\n"
    );
}

#[test]
fn any_loss_fails_as_upstream() {
    let lossy = Session {
        host: "10.9.9.9".into(),
        addr: "10.9.9.9".parse().unwrap(),
        sent: 3,
        replies: vec![reply(1, 900)],
    };
    assert!(!lossy.passing());
    assert!(lossy
        .output()
        .contains("3 packets transmitted, 1 packets received, 66.66666666666666% packet loss\n"));
    let silent = Session {
        replies: vec![],
        ..lossy
    };
    assert!(!silent.passing());
    assert!(silent
        .output()
        .ends_with("round-trip min/avg/max/stddev = 0s/0s/0s/0s\n"));
}

#[tokio::test]
async fn requests_carry_a_valid_checksum_and_replies_are_recognized() {
    let Ok(pinger) = icmp::Pinger::open("127.0.0.1".parse().unwrap()) else {
        eprintln!("skipped: no ICMP socket here");
        return;
    };
    let req = pinger.request(2);
    assert_eq!(req.len(), 8 + PAYLOAD);
    assert_eq!(icmp::checksum(&req), 0, "a packet with its checksum sums to zero");
    // The peer's answer: type 0 (echo reply), same identifier, sequence and data.
    let mut answer = req.clone();
    answer[0] = 0;
    if pinger.is_raw() {
        let mut ip_header = vec![0x45u8; 1];
        ip_header.resize(20, 0);
        answer.splice(0..0, ip_header);
    }
    let at = answer.len() - (8 + PAYLOAD);
    assert_eq!(pinger.parse(&answer), Some((2, 8 + PAYLOAD)));
    // Our own request, or another program's reply, is not ours.
    assert_eq!(pinger.parse(&req), None);
    answer[at + 8] ^= 0xff;
    assert_eq!(pinger.parse(&answer), None);
}
