//! The network: embassy-stm32's Ethernet driver under an embassy-net stack (smoltcp 0.13) with
//! a static IPv4 address, the task that runs the stack, and the one UDP socket rudp runs over.
//!
//! Every buffer is a static, handed out once by a [`ConstStaticCell`]: its size is fixed at
//! compile time, it sits in `.bss` (zeroed by the start-up code, no copy through the stack),
//! and it lies in SRAM that the Ethernet DMA can reach (see `link/memory.x`).

use embassy_executor::Spawner;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use embassy_stm32::eth::{Ethernet, PacketQueue};
use embassy_stm32::peripherals::ETH;
use rudp_nostd::MAX_FRAME;
use static_cell::ConstStaticCell;

use crate::WINDOW;
use crate::phy::Lan8742a;

/// The Ethernet MAC and DMA with the board's PHY: the stack's device.
pub type Device = Ethernet<'static, ETH, Lan8742a>;

/// Receive descriptors (1.5 KiB buffer each): a whole window of rudp frames arriving back to
/// back, with room for a burst of broadcast traffic on top.
const RX_PACKETS: usize = WINDOW + 2;
/// Transmit descriptors: the stack hands the driver one frame per descriptor; a few keep the
/// wire busy while the stack fills the next.
const TX_PACKETS: usize = 4;
/// Datagrams the UDP socket holds each way: a whole window in flight, and room for a few stray
/// datagrams without pushing out the peer's.
const SOCKET_FRAMES: usize = WINDOW + 4;
/// Payload bytes the UDP socket holds each way: [`SOCKET_FRAMES`] whole rudp frames.
const SOCKET_BYTES: usize = SOCKET_FRAMES * MAX_FRAME;
/// Sockets on the stack: rudp's one UDP socket.
const SOCKETS: usize = 1;

/// The Ethernet DMA's descriptors and frame buffers, for [`Ethernet::new_with_phy`].
pub static PACKETS: ConstStaticCell<PacketQueue<TX_PACKETS, RX_PACKETS>> =
    ConstStaticCell::new(PacketQueue::new());
static RESOURCES: ConstStaticCell<StackResources<SOCKETS>> = ConstStaticCell::new(StackResources::new());
// The socket's buffers: the metadata (not all zeros, so in `.data`) apart from the payload
// bytes (zeros, so in `.bss`: no copy of them in flash).
static RX_META: ConstStaticCell<[PacketMetadata; SOCKET_FRAMES]> =
    ConstStaticCell::new([PacketMetadata::EMPTY; SOCKET_FRAMES]);
static RX_BYTES: ConstStaticCell<[u8; SOCKET_BYTES]> = ConstStaticCell::new([0; SOCKET_BYTES]);
static TX_META: ConstStaticCell<[PacketMetadata; SOCKET_FRAMES]> =
    ConstStaticCell::new([PacketMetadata::EMPTY; SOCKET_FRAMES]);
static TX_BYTES: ConstStaticCell<[u8; SOCKET_BYTES]> = ConstStaticCell::new([0; SOCKET_BYTES]);

/// Starts the stack over `device` with a static `address` (and a default `gateway`, if any) in
/// a task of its own; `random_seed` seeds smoltcp (its ephemeral ports and the like).
///
/// Call once: the static resources can be taken only once (a second call panics).
pub fn start(
    spawner: Spawner,
    device: Device,
    address: Ipv4Cidr,
    gateway: Option<Ipv4Address>,
    random_seed: u64,
) -> Stack<'static> {
    let config = Config::ipv4_static(StaticConfigV4 { address, gateway, dns_servers: Default::default() });
    let (stack, runner) = embassy_net::new(device, config, RESOURCES.take(), random_seed);
    // The task's pool has room for one, and this is the one.
    spawner.spawn(defmt::unwrap!(net_task(runner)));
    stack
}

/// The stack's task: frames between the DMA rings and the socket, ARP, ping, the PHY's link
/// (polled every 500 ms).
#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
}

/// The UDP socket on `stack`, bound to `port`, with room for [`SOCKET_FRAMES`] rudp frames
/// each way.
///
/// Call once: the buffers can be taken only once (a second call panics).
pub fn socket(stack: Stack<'static>, port: u16) -> UdpSocket<'static> {
    let mut socket = UdpSocket::new(stack, RX_META.take(), RX_BYTES.take(), TX_META.take(), TX_BYTES.take());
    // Fails only for port 0: a settings bug.
    defmt::unwrap!(socket.bind(port));
    socket
}
