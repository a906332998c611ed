//! The lease pool (RFC 2131 §4.3): which address a client is offered and
//! acknowledged, kept per client key (client id, else MAC). Plain data and a
//! clock value in seconds; the server persists bindings before it acknowledges.
//!
//! - A reserved MAC always gets its reserved address; reserved addresses never go
//!   to anyone else.
//! - A client keeps its address across renewals and restarts (bindings are loaded
//!   from the store); an offer holds an address for [`OFFER_HOLD`] seconds.
//! - When the range is used up, expired bindings are reused (oldest first); then
//!   new clients get nothing, and bound clients are never disturbed.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::Mac;

/// Seconds an offered address stays held for the client it was offered to.
pub const OFFER_HOLD: f64 = 30.0;
/// Seconds an address a client declined (RFC 2131 §4.3.3) is not handed out.
pub const DECLINE_HOLD: f64 = 600.0;

/// One binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub client: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub expires: f64,
}

/// What to answer a REQUEST with.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Acknowledge this address (after persisting the binding).
    Ack(Ipv4Addr),
    /// Refuse, with the reason (the client starts over).
    Nak(String),
    /// Stay silent (the request is for another server, or not ours to judge).
    Silent(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the address pool is exhausted: every address is bound, offered or reserved")]
pub struct Exhausted;

#[derive(Debug, Clone)]
pub struct Pool {
    start: u32,
    end: u32,
    server: Ipv4Addr,
    subnet: (Ipv4Addr, u8),
    reservations: HashMap<Mac, Ipv4Addr>,
    reserved_ips: HashMap<Ipv4Addr, Mac>,
    bindings: HashMap<String, Binding>,
    by_ip: HashMap<Ipv4Addr, String>,
    /// ip → (client, until)
    offers: HashMap<Ipv4Addr, (String, f64)>,
    declined: HashMap<Ipv4Addr, f64>,
}

fn in_subnet(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

impl Pool {
    /// `start..=end` must be inside `subnet` and must not hold `server`; the caller
    /// checks config and says what is wrong.
    pub fn new(
        start: Ipv4Addr,
        end: Ipv4Addr,
        server: Ipv4Addr,
        subnet: (Ipv4Addr, u8),
        reservations: HashMap<Mac, Ipv4Addr>,
    ) -> Pool {
        let reserved_ips = reservations.iter().map(|(m, ip)| (*ip, *m)).collect();
        Pool {
            start: u32::from(start),
            end: u32::from(end),
            server,
            subnet,
            reservations,
            reserved_ips,
            bindings: HashMap::new(),
            by_ip: HashMap::new(),
            offers: HashMap::new(),
            declined: HashMap::new(),
        }
    }

    /// Take a binding (from the store at start-up, or after a commit).
    pub fn bind(&mut self, b: Binding) {
        if let Some(old) = self.bindings.remove(&b.client) {
            self.by_ip.remove(&old.ip);
        }
        if let Some(other) = self.by_ip.remove(&b.ip) {
            self.bindings.remove(&other);
        }
        self.offers.remove(&b.ip);
        self.by_ip.insert(b.ip, b.client.clone());
        self.bindings.insert(b.client.clone(), b);
    }

    pub fn binding(&self, client: &str) -> Option<&Binding> {
        self.bindings.get(client)
    }

    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values()
    }

    /// Whether `ip` may go to `client` (with `mac`) now.
    fn free_for(&self, ip: Ipv4Addr, client: &str, mac: Mac, now: f64) -> bool {
        if ip == self.server || !in_subnet(ip, self.subnet) {
            return false;
        }
        match self.reserved_ips.get(&ip) {
            Some(m) if *m != mac => return false,
            Some(_) => {}
            None => {
                let n = u32::from(ip);
                if n < self.start || n > self.end {
                    return false;
                }
            }
        }
        if self.declined.get(&ip).is_some_and(|until| *until > now) {
            return false;
        }
        if let Some(owner) = self.by_ip.get(&ip)
            && owner != client
            && self.bindings.get(owner).is_some_and(|b| b.expires > now)
        {
            return false;
        }
        if let Some((owner, until)) = self.offers.get(&ip)
            && owner != client
            && *until > now
        {
            return false;
        }
        true
    }

    /// The address to offer a DISCOVER (RFC 2131 §4.3.1): the reservation, the
    /// client's binding, the address it asks for if free, a free one, or the
    /// oldest expired binding. Holds it for [`OFFER_HOLD`] seconds.
    pub fn offer(
        &mut self,
        client: &str,
        mac: Mac,
        requested: Option<Ipv4Addr>,
        now: f64,
    ) -> Result<Ipv4Addr, Exhausted> {
        let ip = self.choose(client, mac, requested, now)?;
        self.offers
            .insert(ip, (client.to_string(), now + OFFER_HOLD));
        Ok(ip)
    }

    fn choose(
        &mut self,
        client: &str,
        mac: Mac,
        requested: Option<Ipv4Addr>,
        now: f64,
    ) -> Result<Ipv4Addr, Exhausted> {
        if let Some(ip) = self.reservations.get(&mac) {
            return Ok(*ip);
        }
        if let Some(b) = self.bindings.get(client)
            && self.free_for(b.ip, client, mac, now)
        {
            return Ok(b.ip);
        }
        if let Some((ip, _)) = self
            .offers
            .iter()
            .find(|(_, (c, until))| c == client && *until > now)
        {
            return Ok(*ip);
        }
        if let Some(ip) = requested
            && self.free_for(ip, client, mac, now)
        {
            return Ok(ip);
        }
        // Drop stale offers and declines so the maps stay bounded by the pool.
        self.offers.retain(|_, (_, until)| *until > now);
        self.declined.retain(|_, until| *until > now);
        for n in self.start..=self.end {
            let ip = Ipv4Addr::from(n);
            if !self.by_ip.contains_key(&ip) && self.free_for(ip, client, mac, now) {
                return Ok(ip);
            }
        }
        // Reuse the binding that expired longest ago.
        let oldest = self
            .bindings
            .values()
            .filter(|b| b.expires <= now && self.free_for(b.ip, client, mac, now))
            .min_by(|a, b| a.expires.total_cmp(&b.expires))
            .map(|b| b.ip);
        oldest.ok_or(Exhausted)
    }

    /// Judge a REQUEST (RFC 2131 §4.3.2): selecting (server id given), init-reboot
    /// (requested address, no server id) or renewing/rebinding (ciaddr set).
    pub fn request(
        &mut self,
        client: &str,
        mac: Mac,
        server_id: Option<Ipv4Addr>,
        requested: Option<Ipv4Addr>,
        ciaddr: Ipv4Addr,
        now: f64,
    ) -> Verdict {
        if let Some(s) = server_id
            && s != self.server
        {
            // The client chose another server's offer: release ours.
            self.offers.retain(|_, (c, _)| c != client);
            return Verdict::Silent(format!("the client chose server {s}"));
        }
        let wanted = match (requested, ciaddr) {
            (Some(ip), _) => ip,
            (None, c) if !c.is_unspecified() => c,
            _ => return Verdict::Nak("REQUEST with neither a requested address nor ciaddr".into()),
        };
        if let Some(r) = self.reservations.get(&mac)
            && *r != wanted
        {
            return Verdict::Nak(format!("{mac} has the reserved address {r}"));
        }
        if !in_subnet(wanted, self.subnet) {
            return Verdict::Nak(format!("{wanted} is not on this network"));
        }
        if server_id.is_some() {
            let offered = self
                .offers
                .get(&wanted)
                .is_some_and(|(c, until)| c == client && *until > now);
            let bound = self.bindings.get(client).is_some_and(|b| b.ip == wanted);
            if !(offered || bound || self.free_for(wanted, client, mac, now)) {
                return Verdict::Nak(format!("{wanted} was not offered to this client"));
            }
        }
        if self.free_for(wanted, client, mac, now) {
            Verdict::Ack(wanted)
        } else {
            Verdict::Nak(format!("{wanted} belongs to another client"))
        }
    }

    /// A RELEASE: the address is free again.
    pub fn release(&mut self, client: &str, ip: Ipv4Addr) -> Option<Binding> {
        if self.bindings.get(client).is_some_and(|b| b.ip == ip) {
            self.by_ip.remove(&ip);
            return self.bindings.remove(client);
        }
        None
    }

    /// A DECLINE: the address is in use by someone else; hold it back.
    pub fn decline(&mut self, client: &str, ip: Ipv4Addr, now: f64) -> Option<Binding> {
        self.declined.insert(ip, now + DECLINE_HOLD);
        self.offers.remove(&ip);
        self.release(client, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    fn pool(reservations: &[(u8, [u8; 4])]) -> Pool {
        Pool::new(
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::new(10, 0, 0, 103),
            Ipv4Addr::new(10, 0, 0, 1),
            (Ipv4Addr::new(10, 0, 0, 0), 24),
            reservations
                .iter()
                .map(|(m, ip)| (mac(*m), Ipv4Addr::from(*ip)))
                .collect(),
        )
    }

    fn lease(p: &mut Pool, n: u8, now: f64) -> Ipv4Addr {
        let client = format!("mac:{}", mac(n));
        let ip = p.offer(&client, mac(n), None, now).unwrap();
        match p.request(
            &client,
            mac(n),
            Some(p.server),
            Some(ip),
            Ipv4Addr::UNSPECIFIED,
            now,
        ) {
            Verdict::Ack(a) => {
                p.bind(Binding {
                    client,
                    mac: mac(n),
                    ip: a,
                    expires: now + 3600.0,
                });
                a
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn same_address_on_renewal_and_after_reload() {
        let mut p = pool(&[]);
        let ip = lease(&mut p, 1, 0.0);
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 100));
        let client = format!("mac:{}", mac(1));
        // Renewing: ciaddr set, no requested address.
        assert_eq!(
            p.request(&client, mac(1), None, None, ip, 1800.0),
            Verdict::Ack(ip)
        );
        // A fresh pool loaded with the stored bindings gives the same address.
        let mut q = pool(&[]);
        for b in p.bindings() {
            q.bind(b.clone());
        }
        assert_eq!(q.offer(&client, mac(1), None, 10.0).unwrap(), ip);
    }

    #[test]
    fn reservations_are_honoured_and_kept_from_others() {
        let mut p = pool(&[(9, [10, 0, 0, 50])]);
        assert_eq!(lease(&mut p, 9, 0.0), Ipv4Addr::new(10, 0, 0, 50));
        let c = format!("mac:{}", mac(2));
        // Another client asking for the reserved address does not get it.
        assert_ne!(
            p.offer(&c, mac(2), Some(Ipv4Addr::new(10, 0, 0, 50)), 0.0)
                .unwrap(),
            Ipv4Addr::new(10, 0, 0, 50)
        );
        assert!(matches!(
            p.request(
                &c,
                mac(2),
                None,
                Some(Ipv4Addr::new(10, 0, 0, 50)),
                Ipv4Addr::UNSPECIFIED,
                0.0
            ),
            Verdict::Nak(_)
        ));
    }

    #[test]
    fn exhaustion_is_bounded_and_bound_clients_keep_their_address() {
        let mut p = pool(&[]);
        let first = lease(&mut p, 1, 0.0);
        // A flood of new clients: offers until the range is held, then nothing.
        let mut offered = 0;
        let mut refused = 0;
        for n in 10..200u8 {
            match p.offer(&format!("id:{n}"), mac(n), None, 1.0) {
                Ok(_) => offered += 1,
                Err(Exhausted) => refused += 1,
            }
        }
        assert_eq!(offered, 3);
        assert_eq!(refused, 187);
        let c1 = format!("mac:{}", mac(1));
        assert_eq!(
            p.request(&c1, mac(1), None, None, first, 2.0),
            Verdict::Ack(first)
        );
        assert_eq!(p.offer(&c1, mac(1), None, 2.0).unwrap(), first);
        // Offers lapse: after the hold, new clients get addresses again.
        assert!(p.offer("id:new", mac(250), None, 2.0 + OFFER_HOLD).is_ok());
        // An expired binding is reused when nothing else is left.
        let mut p = pool(&[]);
        for n in 1..=4 {
            lease(&mut p, n, 0.0);
        }
        assert_eq!(p.offer("id:late", mac(99), None, 10.0), Err(Exhausted));
        assert!(p.offer("id:late", mac(99), None, 4000.0).is_ok());
    }

    #[test]
    fn requests_for_others_are_refused_or_ignored() {
        let mut p = pool(&[]);
        let ip = lease(&mut p, 1, 0.0);
        let c2 = format!("mac:{}", mac(2));
        assert!(matches!(
            p.request(&c2, mac(2), None, Some(ip), Ipv4Addr::UNSPECIFIED, 1.0),
            Verdict::Nak(_)
        ));
        assert!(matches!(
            p.request(
                &c2,
                mac(2),
                Some(Ipv4Addr::new(10, 0, 0, 2)),
                Some(ip),
                Ipv4Addr::UNSPECIFIED,
                1.0
            ),
            Verdict::Silent(_)
        ));
        assert!(matches!(
            p.request(
                &c2,
                mac(2),
                None,
                Some(Ipv4Addr::new(192, 168, 1, 5)),
                Ipv4Addr::UNSPECIFIED,
                1.0
            ),
            Verdict::Nak(_)
        ));
        // Declined addresses are held back.
        let c1 = format!("mac:{}", mac(1));
        p.decline(&c1, ip, 5.0);
        assert_ne!(p.offer(&c2, mac(2), Some(ip), 6.0).unwrap(), ip);
    }
}
