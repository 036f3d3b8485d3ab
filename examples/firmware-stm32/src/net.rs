//! The network: the Ethernet MAC and DMA (stm32-eth), the LAN8742A PHY, and smoltcp 0.12 with
//! one UDP socket; and the loop that drives an rudp engine over them.
//!
//! Every buffer is a static, handed out once by a [`ConstStaticCell`]: its size is fixed at
//! compile time, it sits in `.bss` (zeroed by the start-up code, no copy through the stack),
//! and it lies in SRAM that the Ethernet DMA can reach (see `memory.x`).

use ieee802_3_miim::Phy as _;
use ieee802_3_miim::phy::{LAN8742A, PhySpeed};
use rudp_nostd::transport::Report;
use rudp_nostd::{Engine, Instant, MAX_FRAME};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::udp;
use smoltcp::wire::{EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};
use static_cell::ConstStaticCell;
use stm32_eth::dma::{EthernetDMA, RxRingEntry, TxRingEntry};
use stm32_eth::mac::{EthernetMACWithMii, Speed};
use stm32_eth::{EthPins, Parts, PartsIn};
use stm32f4xx_hal::gpio::{Alternate, Input, PA1, PA2, PA7, PB13, PC1, PC4, PC5, PG11, PG13};
use stm32f4xx_hal::rcc::Clocks;

use crate::{WINDOW, clock, turn};

/// Receive descriptors (1.5 KiB buffer each): a whole window of rudp frames arriving back to
/// back, with room for a burst of broadcast traffic on top.
const RX_RING_LEN: usize = WINDOW + 2;
/// Transmit descriptors: smoltcp hands the driver one frame per descriptor; each turn of the
/// main loop sends until the ring is full, and the next turn comes at once while the socket
/// has more to send. A few keep the wire busy.
const TX_RING_LEN: usize = 4;
/// Datagrams the UDP socket holds each way: a whole window in flight, and room for a few stray
/// datagrams without pushing out the peer's.
const SOCKET_FRAMES: usize = WINDOW + 4;
/// Payload bytes the UDP socket holds each way: [`SOCKET_FRAMES`] whole rudp frames.
const SOCKET_BYTES: usize = SOCKET_FRAMES * MAX_FRAME;
/// How often the PHY's link state is read over MDIO.
const LINK_CHECK_INTERVAL_MS: u64 = 500;
/// The LAN8742A's address on the MDIO bus on NUCLEO-144 boards.
const PHY_ADDRESS: u8 = 0;

static RX_RING: ConstStaticCell<[RxRingEntry; RX_RING_LEN]> =
    ConstStaticCell::new([const { RxRingEntry::new() }; RX_RING_LEN]);
static TX_RING: ConstStaticCell<[TxRingEntry; TX_RING_LEN]> =
    ConstStaticCell::new([const { TxRingEntry::new() }; TX_RING_LEN]);
static SOCKET_STORAGE: ConstStaticCell<[SocketStorage<'static>; 1]> =
    ConstStaticCell::new([SocketStorage::EMPTY; 1]);
static UDP_RX_META: ConstStaticCell<[udp::PacketMetadata; SOCKET_FRAMES]> =
    ConstStaticCell::new([udp::PacketMetadata::EMPTY; SOCKET_FRAMES]);
static UDP_RX_DATA: ConstStaticCell<[u8; SOCKET_BYTES]> = ConstStaticCell::new([0; SOCKET_BYTES]);
static UDP_TX_META: ConstStaticCell<[udp::PacketMetadata; SOCKET_FRAMES]> =
    ConstStaticCell::new([udp::PacketMetadata::EMPTY; SOCKET_FRAMES]);
static UDP_TX_DATA: ConstStaticCell<[u8; SOCKET_BYTES]> = ConstStaticCell::new([0; SOCKET_BYTES]);

/// The RMII pins of the NUCLEO-F429ZI (and the other NUCLEO-144 boards with Ethernet): REF_CLK
/// PA1, CRS_DV PA7, TX_EN PG11, TXD0 PG13, TXD1 PB13, RXD0 PC4, RXD1 PC5. stm32-eth switches
/// them to their alternate function itself.
pub type NucleoRmiiPins =
    EthPins<PA1<Input>, PA7<Input>, PG11<Input>, PG13<Input>, PB13<Input>, PC4<Input>, PC5<Input>>;
/// MDIO: PA2, alternate function 11.
pub type Mdio = PA2<Alternate<11>>;
/// MDC: PC1, alternate function 11.
pub type Mdc = PC1<Alternate<11>>;

/// The board's network settings.
pub struct Settings {
    /// The MAC address.
    pub mac: [u8; 6],
    /// The IPv4 address and prefix length.
    pub address: Ipv4Cidr,
    /// The default router, if any.
    pub gateway: Option<Ipv4Address>,
    /// The local UDP port rudp uses.
    pub port: u16,
}

/// Ethernet, smoltcp and the UDP socket, ready to drive an rudp engine.
pub struct Network {
    iface: Interface,
    dma: EthernetDMA<'static, 'static>,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    phy: LAN8742A<EthernetMACWithMii<Mdio, Mdc>>,
    link_up: bool,
    next_link_check_ms: u64,
}

impl Network {
    /// Brings up the MAC, DMA and PHY, and smoltcp with `settings`; `random_seed` seeds
    /// smoltcp (its ephemeral ports and the like).
    ///
    /// Call once: the static buffers can be taken only once (a second call panics).
    pub fn new(
        parts: PartsIn,
        pins: NucleoRmiiPins,
        mdio: Mdio,
        mdc: Mdc,
        clocks: Clocks,
        settings: &Settings,
        random_seed: u64,
    ) -> Network {
        let rx_ring: &'static mut [RxRingEntry] = RX_RING.take();
        let tx_ring: &'static mut [TxRingEntry] = TX_RING.take();
        let Ok(Parts { mut dma, mac }) =
            stm32_eth::new_with_mii(parts, rx_ring, tx_ring, clocks, pins, mdio, mdc)
        else {
            // Only if HCLK is below 25 MHz: a clock set-up bug, not a run-time condition.
            defmt::panic!("HCLK too slow for the Ethernet MAC");
        };
        // RX and TX interrupts: they end the main loop's `wfi` as soon as a frame is in.
        dma.enable_interrupt();

        let mut phy = LAN8742A::new(mac, PHY_ADDRESS);
        // Advertises every speed the PHY has; the link comes up on its own after that, and
        // `check_link` gives the MAC the negotiated speed.
        phy.phy_init();

        let mut config = Config::new(EthernetAddress(settings.mac).into());
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, &mut dma, smoltcp_instant(clock::now_ms()));
        iface.update_ip_addrs(|addresses| {
            // The list holds two addresses: one always fits.
            let _ = addresses.push(IpCidr::Ipv4(settings.address));
        });
        if let Some(gateway) = settings.gateway {
            // The route table is empty at this point: the one route always fits.
            let _ = iface.routes_mut().add_default_ipv4_route(gateway);
        }

        let socket_storage: &'static mut [SocketStorage<'static>] = SOCKET_STORAGE.take();
        let mut sockets = SocketSet::new(socket_storage);
        let rx_meta: &'static mut [udp::PacketMetadata] = UDP_RX_META.take();
        let rx_data: &'static mut [u8] = UDP_RX_DATA.take();
        let tx_meta: &'static mut [udp::PacketMetadata] = UDP_TX_META.take();
        let tx_data: &'static mut [u8] = UDP_TX_DATA.take();
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(rx_meta, rx_data),
            udp::PacketBuffer::new(tx_meta, tx_data),
        );
        // Fails only for port 0: a settings bug.
        defmt::unwrap!(socket.bind(settings.port));
        let udp = sockets.add(socket);

        Network { iface, dma, sockets, udp, phy, link_up: false, next_link_check_ms: 0 }
    }

    /// Runs the stack until the PHY reports a link.
    pub fn wait_for_link(&mut self) {
        if !self.link_up {
            defmt::info!("waiting for the Ethernet link");
        }
        while !self.link_up {
            self.idle_until(clock::now_ms() + LINK_CHECK_INTERVAL_MS);
        }
    }

    /// Drives `engine` over the UDP socket until it is done, sleeping between turns; logs every
    /// trace event at `debug` level (as SPEC §8's line) and hands each application event to
    /// `on_event`. Each turn is rudp-nostd's, over smoltcp 0.12 ([`turn::poll`]): the stack
    /// takes in what the DMA received, the engine runs over the socket, the stack sends its
    /// replies at once (egress only, so no datagram is left in the socket unseen); then the loop
    /// sleeps until the turn's wake-up time (none while the socket still holds datagrams), the
    /// next link check or the next Ethernet interrupt.
    pub fn run<En>(&mut self, engine: &mut En, mut on_event: impl FnMut(En::Event))
    where
        En: Engine<Endpoint = IpEndpoint>,
    {
        loop {
            let now = clock::now_ms();
            self.check_link(now);
            let result = turn::poll(
                &mut self.iface,
                &mut self.dma,
                &mut self.sockets,
                self.udp,
                engine,
                Instant::from_millis(now),
                |report| match report {
                    // rudp's defmt::Format prints the SPEC §8 line, as the host's -v does.
                    Report::Trace(trace) => defmt::debug!("{}", trace),
                    Report::Event(event) => on_event(event),
                },
            );
            let wake = match result {
                // Rounded up: waking before the deadline would only spin until it.
                Ok(next) => next.map_or(u64::MAX, |at| at.as_micros().div_ceil(1000)),
                Err(error) => {
                    // The socket is bound from the start, so only an unspecified peer address
                    // gets here: the engine keeps its timers and fails on its idle timeout.
                    defmt::error!("UDP send: {}", error);
                    let engine_wake =
                        engine.poll_timeout().map_or(u64::MAX, |at| at.as_micros().div_ceil(1000));
                    engine_wake.min(self.stack_wake(now))
                }
            };
            if engine.is_done() {
                // The turn sent the last frame, unless the DMA ring was full: then the next
                // poll of the stack (the next transfer's, or `idle_until`'s) sends it.
                return;
            }
            clock::sleep_until(wake.min(self.next_link_check_ms));
        }
    }

    /// Keeps the stack running (ARP, ping, the PHY link) with no transfer until `until_ms`.
    pub fn idle_until(&mut self, until_ms: u64) {
        loop {
            let now = clock::now_ms();
            if now >= until_ms {
                return;
            }
            self.poll_stack(now);
            clock::sleep_until(self.stack_wake(now).min(until_ms));
        }
    }

    /// Checks the link if due and moves frames between the DMA rings and the sockets.
    fn poll_stack(&mut self, now: u64) {
        self.check_link(now);
        self.iface.poll(smoltcp_instant(now), &mut self.dma, &mut self.sockets);
    }

    /// When the stack next needs a poll: smoltcp's own delay, or the next link check.
    fn stack_wake(&mut self, now: u64) -> u64 {
        let delay = self.iface.poll_delay(smoltcp_instant(now), &self.sockets);
        let stack = delay.map_or(u64::MAX, |delay| now.saturating_add(delay.total_millis()));
        stack.min(self.next_link_check_ms)
    }

    /// Reads the PHY's link state every [`LINK_CHECK_INTERVAL_MS`]; on a new link, sets the MAC
    /// to the negotiated speed and duplex (stm32-eth starts it at 100 Mbit/s full duplex).
    fn check_link(&mut self, now: u64) {
        if now < self.next_link_check_ms {
            return;
        }
        self.next_link_check_ms = now + LINK_CHECK_INTERVAL_MS;
        let up = self.phy.link_established();
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if !up {
            defmt::warn!("Ethernet link down");
            return;
        }
        match self.phy.link_speed() {
            Some(speed) => {
                let speed = match speed {
                    PhySpeed::HalfDuplexBase10T => Speed::HalfDuplexBase10T,
                    PhySpeed::FullDuplexBase10T => Speed::FullDuplexBase10T,
                    PhySpeed::HalfDuplexBase100Tx => Speed::HalfDuplexBase100Tx,
                    PhySpeed::FullDuplexBase100Tx => Speed::FullDuplexBase100Tx,
                };
                self.phy.get_miim().set_speed(speed);
                defmt::info!("Ethernet link up: {}", speed);
            }
            None => {
                let speed = self.phy.get_miim().get_speed();
                defmt::warn!("Ethernet link up, speed unreadable: MAC left at {}", speed);
            }
        }
    }
}

/// smoltcp's `Instant` for a millisecond count.
fn smoltcp_instant(ms: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}
