//! The async driver over embassy-net (rudp-nostd's module `embassy`, feature `embassy`) in a
//! bare-metal binary with no `#[global_allocator]`: an embassy executor on Cortex-M, an
//! embassy-net stack on an in-memory loopback MAC (embassy-net-driver-channel), and one task
//! each for a [`Sender`] and a [`Receiver`] (and with `embassy-listener` a [`Listener`]), each
//! task one call of the driver. If the driver pulled in `alloc` this would not link.
//!
//! Every task's future lives in a static pool the executor's `task` macro sizes at compile
//! time, so `scripts/footprint.sh` reads the futures' sizes off the symbol table (`POOL` of
//! each task: the future and the executor's task header). With `embassy-base` the rudp tasks
//! give way to one that makes the same socket and timer calls without rudp: what the script
//! subtracts to find what the driver and the engines cost.
//!
//! The panic handler is an ordinary one: embassy-net, smoltcp and the executor keep panic paths
//! of their own (RefCell borrows, socket-set lookups), so this binary proves no allocation, not
//! the absence of panics; `rudp-link-check` proves that of the engines.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use embassy_executor::Spawner;
use embassy_net::driver::HardwareAddress;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel::{self as channel, State};
use rudp_nostd::MAX_FRAME;
use static_cell::StaticCell;

/// The loopback MAC's frame size: an Ethernet frame with a whole rudp frame in it.
const MTU: usize = 1514;
/// Frames each socket buffer holds, each way (one whole rudp frame is the minimum).
const SOCKET_FRAMES: usize = 2;
/// Sockets on the stack: the sender's, the receiver's, the listener's.
const SOCKETS: usize = 3;
const ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const RECEIVER_PORT: u16 = 9000;
#[cfg(feature = "embassy-listener")]
const LISTENER_PORT: u16 = 9001;

/// One socket's buffers.
struct Buffers {
    rx_meta: [PacketMetadata; SOCKET_FRAMES],
    rx: [u8; SOCKET_FRAMES * MAX_FRAME],
    tx_meta: [PacketMetadata; SOCKET_FRAMES],
    tx: [u8; SOCKET_FRAMES * MAX_FRAME],
}

impl Buffers {
    const fn new() -> Buffers {
        Buffers {
            rx_meta: [PacketMetadata::EMPTY; SOCKET_FRAMES],
            rx: [0; SOCKET_FRAMES * MAX_FRAME],
            tx_meta: [PacketMetadata::EMPTY; SOCKET_FRAMES],
            tx: [0; SOCKET_FRAMES * MAX_FRAME],
        }
    }

    /// A UDP socket on `stack`, bound to `port`, in `cell`.
    fn socket(
        &'static mut self,
        stack: Stack<'static>,
        port: u16,
        cell: &'static StaticCell<UdpSocket<'static>>,
    ) -> &'static mut UdpSocket<'static> {
        let socket = cell.init(UdpSocket::new(
            stack,
            &mut self.rx_meta,
            &mut self.rx,
            &mut self.tx_meta,
            &mut self.tx,
        ));
        black_box(socket.bind(port).is_ok());
        socket
    }
}

/// The stack's runner: frames in and out of the MAC, ARP, timers.
#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, channel::Device<'static, MTU>>) -> ! {
    runner.run().await
}

/// The MAC: every frame sent comes back in (a firmware's Ethernet driver task).
#[embassy_executor::task]
async fn mac_task(runner: channel::Runner<'static, MTU>) -> ! {
    let (state, mut rx, mut tx) = runner.split();
    state.set_link_state(embassy_net::driver::LinkState::Up);
    loop {
        let frame = tx.tx_buf().await;
        let buf = rx.rx_buf().await;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        rx.rx_done(n);
        tx.tx_done();
    }
}

/// A task with nothing in it: its pool is the executor's task header and a one-byte future,
/// so `scripts/footprint.sh` can tell the header from the other tasks' futures.
#[embassy_executor::task]
async fn empty_task() {}

/// embassy-time's clock: a firmware reads a hardware timer and sets an alarm; this one reads
/// a value the optimizer cannot know and wakes at once.
struct Clock;

impl embassy_time_driver::Driver for Clock {
    fn now(&self) -> u64 {
        black_box(0)
    }

    fn schedule_wake(&self, _at: u64, waker: &core::task::Waker) {
        waker.wake_by_ref();
    }
}

embassy_time_driver::time_driver_impl!(static CLOCK: Clock = Clock);

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    static MAC: StaticCell<State<MTU, 4, 4>> = StaticCell::new();
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (mac, device) = channel::new(MAC.init(State::new()), HardwareAddress::Ethernet([2, 0, 10, 0, 0, 1]));
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(ADDR, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), black_box(7));
    spawner.spawn(black_box(net_task(runner)).unwrap_or_else(|_| halt()));
    spawner.spawn(black_box(mac_task(mac)).unwrap_or_else(|_| halt()));
    spawner.spawn(empty_task().unwrap_or_else(|_| halt()));
    tasks::spawn(spawner, stack);
}

/// What a task that cannot be spawned (its pool is full: never, each is spawned once) does.
fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A sender's task and a receiver's task, each one call of the driver.
#[cfg(not(feature = "embassy-base"))]
mod tasks {
    use core::hint::black_box;

    use embassy_executor::Spawner;
    use embassy_net::udp::UdpSocket;
    use embassy_net::{IpAddress, IpEndpoint, Stack};
    use rudp_nostd::{Receiver, ReceiverConfig, Sender, SenderConfig, embassy};
    use static_cell::StaticCell;

    use super::{ADDR, Buffers, RECEIVER_PORT, halt};

    #[embassy_executor::task]
    async fn sender_task(
        socket: &'static mut UdpSocket<'static>,
        sender: &'static mut Sender<IpEndpoint>,
        source: &'static mut &'static [u8],
    ) {
        let result = embassy::send(socket, sender, source, |report| {
            black_box(report);
        })
        .await;
        let _ = black_box(result);
    }

    #[embassy_executor::task]
    async fn receiver_task(
        socket: &'static mut UdpSocket<'static>,
        receiver: &'static mut Receiver<IpEndpoint>,
        sink: &'static mut &'static mut [u8],
    ) {
        let result = embassy::receive(socket, receiver, sink, |report| {
            black_box(report);
        })
        .await;
        let _ = black_box(result);
    }

    pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
        static DATA: &[u8] = b"a transfer that proves the async driver links without alloc";
        static SOURCE: StaticCell<&'static [u8]> = StaticCell::new();
        static OUT: StaticCell<[u8; 128]> = StaticCell::new();
        static SINK: StaticCell<&'static mut [u8]> = StaticCell::new();
        static SENDER: StaticCell<Sender<IpEndpoint>> = StaticCell::new();
        static RECEIVER: StaticCell<Receiver<IpEndpoint>> = StaticCell::new();
        static SENDER_BUFFERS: StaticCell<Buffers> = StaticCell::new();
        static RECEIVER_BUFFERS: StaticCell<Buffers> = StaticCell::new();
        static SENDER_SOCKET: StaticCell<UdpSocket<'static>> = StaticCell::new();
        static RECEIVER_SOCKET: StaticCell<UdpSocket<'static>> = StaticCell::new();

        let peer = IpEndpoint::new(IpAddress::Ipv4(ADDR), RECEIVER_PORT);
        let config =
            SenderConfig { transfer_size: Some(DATA.len() as u64), ..SenderConfig::new(black_box(1)) };
        let sender = SENDER.init(Sender::new(config, peer, embassy::now()));
        let receiver = RECEIVER.init(Receiver::new(ReceiverConfig::new(black_box(2)), embassy::now()));
        let sender_socket = SENDER_BUFFERS.init(Buffers::new()).socket(stack, 49_152, &SENDER_SOCKET);
        let receiver_socket =
            RECEIVER_BUFFERS.init(Buffers::new()).socket(stack, RECEIVER_PORT, &RECEIVER_SOCKET);
        let source = SOURCE.init(black_box(DATA));
        let sink = SINK.init(OUT.init([0; 128]));
        spawner.spawn(sender_task(sender_socket, sender, source).unwrap_or_else(|_| halt()));
        spawner.spawn(receiver_task(receiver_socket, receiver, sink).unwrap_or_else(|_| halt()));
        #[cfg(feature = "embassy-listener")]
        listener::spawn(spawner, stack);
    }

    /// A listener's task (M = 1), its transfers into RAM.
    #[cfg(feature = "embassy-listener")]
    mod listener {
        use core::hint::black_box;

        use embassy_executor::Spawner;
        use embassy_net::udp::UdpSocket;
        use embassy_net::{IpEndpoint, Stack};
        use rudp_nostd::embassy::{self, TransferSink};
        use rudp_nostd::{Admission, Error, Listener, ListenerConfig, Offer, RefuseReason, TransferId};
        use static_cell::StaticCell;

        use super::super::{Buffers, LISTENER_PORT, halt};

        /// Takes a named transfer of at most 1 MiB.
        fn admit(offer: &Offer<'_, IpEndpoint>) -> Admission {
            match (offer.name, offer.transfer_size) {
                (None, _) => Admission::Refuse(RefuseReason::Name),
                (Some(_), Some(size)) if size > 1 << 20 => Admission::Refuse(RefuseReason::TooLarge),
                (Some(_), _) => Admission::Take(black_box(1)),
            }
        }

        type Admit = fn(&Offer<'_, IpEndpoint>) -> Admission;

        /// Each transfer into one RAM buffer.
        struct Ram {
            data: [u8; 256],
            len: usize,
        }

        impl TransferSink for Ram {
            type Error = embedded_io_async::ErrorKind;

            async fn write(&mut self, _: TransferId, _: u32, data: &[u8]) -> Result<usize, Self::Error> {
                let room = self.data.get_mut(self.len..).unwrap_or(&mut []);
                let n = room.len().min(data.len());
                room[..n].copy_from_slice(&data[..n]);
                self.len += n;
                Ok(n)
            }

            async fn commit(&mut self, _: TransferId, _: u32) -> Result<(), Self::Error> {
                black_box(&self.data);
                Ok(())
            }

            async fn failed(&mut self, _: TransferId, _: u32, error: Error) {
                black_box(error);
                self.len = 0;
            }
        }

        #[embassy_executor::task]
        async fn listener_task(
            socket: &'static mut UdpSocket<'static>,
            listener: &'static mut Listener<IpEndpoint, Admit, 1>,
            sink: &'static mut Ram,
        ) {
            let result = embassy::listen(socket, listener, sink, |report| {
                black_box(report);
            })
            .await;
            let _ = black_box(result);
        }

        pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
            static LISTENER: StaticCell<Listener<IpEndpoint, Admit, 1>> = StaticCell::new();
            static RAM: StaticCell<Ram> = StaticCell::new();
            static BUFFERS: StaticCell<Buffers> = StaticCell::new();
            static SOCKET: StaticCell<UdpSocket<'static>> = StaticCell::new();
            let listener = LISTENER.init(Listener::new(
                ListenerConfig::new(black_box(3)),
                admit as Admit,
                embassy::now(),
            ));
            let socket = BUFFERS.init(Buffers::new()).socket(stack, LISTENER_PORT, &SOCKET);
            let sink = RAM.init(Ram { data: [0; 256], len: 0 });
            spawner.spawn(listener_task(socket, listener, sink).unwrap_or_else(|_| halt()));
        }
    }
}

/// Without rudp (feature `embassy-base`): a task that makes the socket and timer calls the
/// driver makes (wait for a datagram or a deadline, take it in place, send one).
#[cfg(feature = "embassy-base")]
mod tasks {
    use core::hint::black_box;

    use embassy_executor::Spawner;
    use embassy_futures::select::select;
    use embassy_net::udp::UdpSocket;
    use embassy_net::{IpAddress, IpEndpoint, Stack};
    use embassy_time::{Instant, Timer};
    use static_cell::StaticCell;

    use super::{ADDR, Buffers, RECEIVER_PORT, halt};

    #[embassy_executor::task]
    async fn socket_task(socket: &'static mut UdpSocket<'static>) {
        let peer = IpEndpoint::new(IpAddress::Ipv4(ADDR), RECEIVER_PORT);
        let mut frame = [0u8; 12];
        loop {
            black_box(socket.send_to(&frame, peer).await.is_ok());
            let deadline = Instant::from_micros(black_box(500_000));
            select(socket.wait_recv_ready(), Timer::at(deadline)).await;
            while socket.may_recv() {
                let n = socket.recv_from_with(|datagram, meta| (datagram.len(), black_box(meta))).await;
                frame[0] = black_box(n.0) as u8;
            }
        }
    }

    pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
        static BUFFERS: StaticCell<Buffers> = StaticCell::new();
        static SOCKET: StaticCell<UdpSocket<'static>> = StaticCell::new();
        let socket = BUFFERS.init(Buffers::new()).socket(stack, RECEIVER_PORT, &SOCKET);
        spawner.spawn(socket_task(socket).unwrap_or_else(|_| halt()));
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    halt()
}
