//! SNTPv4 server side, without I/O (RFC 4330 §4-§5, RFC 5905 §7.3, §8).
//!
//! Steward answers the devices' time requests from its own clock. The steps:
//! 1. [`Packet::try_from`]: the 48-byte NTP header read from a datagram (RFC 5905
//!    §7.3, figure 8); extension fields and a MAC after it are ignored.
//! 2. [`check_request`]: only a client request (mode 3, version 1 to 4) gets an
//!    answer; anything else is a [`RequestError`] and is dropped, never answered.
//! 3. [`reply`]: the server-mode (4) reply (RFC 4330 §5): version and poll echoed,
//!    origin = the client's transmit timestamp, receive and transmit timestamps
//!    from Steward's clock, the configured stratum, a reference id, a leap
//!    indicator.
//!
//! Why no crate: `ntp-proto` (ntpd-rs) is the maintained Rust NTP codec, but its
//! packet API is behind an internal feature, and it brings rustls with aws-lc-rs
//! by default (NTS), a second crypto provider next to the workspace's ring. The
//! SNTP header is 48 fixed bytes, so it is read and written here.

/// Length of the NTP header; shorter datagrams are not NTP (RFC 5905 §7.3).
pub const HEADER_LEN: usize = 48;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const UNIX_OFFSET: u64 = 2_208_988_800;

/// The reference id Steward sends: 127.127.1.1, the "local clock" id that ntpd
/// and chrony use when they serve a clock they do not take from a peer they can
/// name (RFC 5905 §7.3: for stratum 2 and up the id names the upstream; Steward
/// serves the host's clock and does not know which server keeps it).
pub const LOCAL_CLOCK_ID: [u8; 4] = [127, 127, 1, 1];

/// Why a datagram gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0} bytes is shorter than the {HEADER_LEN}-byte NTP header")]
    Short(usize),
    #[error("mode {0} is not a client request (mode 3)")]
    NotClient(u8),
    #[error("NTP version {0} is not 1 to 4")]
    Version(u8),
}

/// An NTP timestamp (RFC 5905 §6): seconds since 1900 in the high 32 bits (era
/// wrapped), the fraction of a second in the low 32 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From Unix seconds (as [`f64`]); a non-finite or negative time is 0, "unknown".
    pub fn from_unix(secs: f64) -> Timestamp {
        if !secs.is_finite() || secs < 0.0 {
            return Timestamp(0);
        }
        let whole = secs.trunc();
        let frac = ((secs - whole) * 4_294_967_296.0) as u64 & 0xffff_ffff;
        let era_secs = (whole as u64).wrapping_add(UNIX_OFFSET) & 0xffff_ffff;
        Timestamp((era_secs << 32) | frac)
    }

    /// Unix seconds, for an era-0 timestamp (until 2036).
    pub fn to_unix(self) -> f64 {
        let secs = (self.0 >> 32) as f64 - UNIX_OFFSET as f64;
        secs + (self.0 & 0xffff_ffff) as f64 / 4_294_967_296.0
    }
}

/// The NTP header (RFC 5905 §7.3, figure 8), field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Leap indicator, 2 bits: 0 no warning, 1/2 a leap second at the end of the
    /// day, 3 clock unsynchronized.
    pub leap: u8,
    /// Version, 3 bits.
    pub version: u8,
    /// Mode, 3 bits: 3 client, 4 server (RFC 5905 §7.3, figure 10).
    pub mode: u8,
    pub stratum: u8,
    /// Poll interval, log2 seconds.
    pub poll: i8,
    /// Precision of the clock, log2 seconds.
    pub precision: i8,
    /// Root delay and dispersion, NTP short format (16.16 seconds).
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference: Timestamp,
    pub origin: Timestamp,
    pub receive: Timestamp,
    pub transmit: Timestamp,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

impl TryFrom<&[u8]> for Packet {
    type Error = RequestError;

    /// Reads the first [`HEADER_LEN`] bytes; what follows (extension fields,
    /// a MAC: RFC 5905 §7.5) is ignored.
    fn try_from(b: &[u8]) -> Result<Packet, RequestError> {
        if b.len() < HEADER_LEN {
            return Err(RequestError::Short(b.len()));
        }
        Ok(Packet {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 0x7,
            mode: b[0] & 0x7,
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: be32(b, 4),
            root_dispersion: be32(b, 8),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: Timestamp(be64(b, 16)),
            origin: Timestamp(be64(b, 24)),
            receive: Timestamp(be64(b, 32)),
            transmit: Timestamp(be64(b, 40)),
        })
    }
}

impl Packet {
    /// The 48 header bytes (RFC 5905 §7.3). The 2- and 3-bit fields are masked.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = ((self.leap & 0x3) << 6) | ((self.version & 0x7) << 3) | (self.mode & 0x7);
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id);
        for (at, t) in [
            (16, self.reference),
            (24, self.origin),
            (32, self.receive),
            (40, self.transmit),
        ] {
            b[at..at + 8].copy_from_slice(&t.0.to_be_bytes());
        }
        b
    }
}

/// Mode of a client request, and of the server's reply (RFC 5905 §7.3, figure 10).
pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;

/// A datagram read as a client request (RFC 4330 §5): at least 48 bytes, mode 3,
/// version 1 to 4. Anything else is to be dropped without an answer.
pub fn check_request(bytes: &[u8]) -> Result<Packet, RequestError> {
    let p = Packet::try_from(bytes)?;
    if p.mode != MODE_CLIENT {
        return Err(RequestError::NotClient(p.mode));
    }
    if !(1..=4).contains(&p.version) {
        return Err(RequestError::Version(p.version));
    }
    Ok(p)
}

/// What the server says about its own clock in every reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClock {
    /// 1 to 15 (RFC 5905 §7.3: 1 primary, 2-15 secondary; 0 is kiss-o'-death, 16
    /// unsynchronized).
    pub stratum: u8,
    /// 0 no warning, 3 unsynchronized (clients then ignore the server).
    pub leap: u8,
    pub reference_id: [u8; 4],
    /// log2 seconds; -20 is about a microsecond.
    pub precision: i8,
    /// NTP short format (16.16 seconds).
    pub root_delay: u32,
    pub root_dispersion: u32,
}

impl ServerClock {
    /// A secondary server at `stratum`, no leap warning, the local-clock id.
    pub fn at_stratum(stratum: u8) -> ServerClock {
        ServerClock {
            stratum,
            leap: 0,
            reference_id: LOCAL_CLOCK_ID,
            precision: -20,
            // 10 ms each: a modest claim for a host kept by an NTP client.
            root_delay: 0x0000_028f,
            root_dispersion: 0x0000_028f,
        }
    }
}

/// The server reply to `request` (RFC 4330 §5): `receive` is when the request
/// arrived, `transmit` when the reply leaves, both from the server's clock.
pub fn reply(
    request: &Packet,
    clock: &ServerClock,
    receive: Timestamp,
    transmit: Timestamp,
) -> Packet {
    Packet {
        leap: clock.leap,
        version: request.version,
        mode: MODE_SERVER,
        stratum: clock.stratum,
        poll: request.poll,
        precision: clock.precision,
        root_delay: clock.root_delay,
        root_dispersion: clock.root_dispersion,
        reference_id: clock.reference_id,
        // The clock was last set "now": the host's NTP client keeps it, and
        // Steward cannot see when that last happened.
        reference: receive,
        origin: request.transmit,
        receive,
        transmit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client request as ntpdig / SNTP clients send it: LI 0, version 4, mode 3,
    /// only the transmit timestamp set.
    fn request(version: u8, mode: u8, transmit: u64) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0] = (version << 3) | mode;
        b[2] = 6;
        b[40..48].copy_from_slice(&transmit.to_be_bytes());
        b
    }

    #[test]
    fn client_request_is_read_and_answered() {
        let req = check_request(&request(4, 3, 0xdead_beef_0123_4567)).unwrap();
        assert_eq!((req.version, req.mode, req.poll), (4, 3, 6));
        let rx = Timestamp::from_unix(1_700_000_000.25);
        let tx = Timestamp::from_unix(1_700_000_000.5);
        let r = reply(&req, &ServerClock::at_stratum(3), rx, tx);
        let bytes = r.to_bytes();
        // LI 0, VN 4, mode 4.
        assert_eq!(bytes[0], 0b00_100_100);
        assert_eq!(bytes[1], 3);
        assert_eq!(bytes[2], 6, "poll echoed");
        assert_eq!(&bytes[12..16], &LOCAL_CLOCK_ID);
        assert_eq!(&bytes[24..32], &0xdead_beef_0123_4567u64.to_be_bytes());
        let back = Packet::try_from(&bytes[..]).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.receive, rx);
        assert_eq!(back.transmit, tx);
        assert!((back.transmit.to_unix() - 1_700_000_000.5).abs() < 1e-6);
    }

    #[test]
    fn version_is_echoed() {
        for v in 1..=4 {
            let req = check_request(&request(v, 3, 1)).unwrap();
            let r = reply(
                &req,
                &ServerClock::at_stratum(2),
                Timestamp(1),
                Timestamp(2),
            );
            assert_eq!(r.to_bytes()[0] >> 3 & 7, v);
        }
    }

    #[test]
    fn timestamps_count_from_1900() {
        assert_eq!(Timestamp::from_unix(0.0).0 >> 32, UNIX_OFFSET);
        assert_eq!(Timestamp::from_unix(0.5).0 & 0xffff_ffff, 0x8000_0000);
        assert_eq!(Timestamp::from_unix(f64::NAN), Timestamp(0));
        assert_eq!(Timestamp::from_unix(-1.0), Timestamp(0));
        // After 2036-02-07 the seconds wrap into era 1 (RFC 5905 §6).
        let era1 = Timestamp::from_unix((1u64 << 32) as f64 - UNIX_OFFSET as f64 + 5.0);
        assert_eq!(era1.0 >> 32, 5);
    }

    #[test]
    fn malformed_requests_are_refused_by_name() {
        let cases: [(&str, Vec<u8>, RequestError); 7] = [
            ("empty", vec![], RequestError::Short(0)),
            ("one byte short", vec![0x23; 47], RequestError::Short(47)),
            ("server reply", request(4, 4, 1), RequestError::NotClient(4)),
            (
                "symmetric active",
                request(4, 1, 1),
                RequestError::NotClient(1),
            ),
            ("broadcast", request(4, 5, 1), RequestError::NotClient(5)),
            ("version 0", request(0, 3, 1), RequestError::Version(0)),
            ("version 5", request(5, 3, 1), RequestError::Version(5)),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(check_request(&bytes).unwrap_err(), want, "{name}");
        }
        assert!(
            RequestError::Short(3)
                .to_string()
                .contains("48-byte NTP header")
        );
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut b = request(4, 3, 9);
        b.extend_from_slice(&[0xff; 20]);
        assert_eq!(check_request(&b).unwrap().transmit, Timestamp(9));
    }

    #[test]
    fn any_48_bytes_read_back_the_same() {
        let mut b = [0u8; HEADER_LEN];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
        }
        let p = Packet::try_from(&b[..]).unwrap();
        assert_eq!(p.to_bytes(), b);
    }
}
