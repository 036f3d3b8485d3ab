//! What the two NIC drivers share: a `smoltcp::phy::Device` over any controller that moves
//! whole Ethernet frames through a FIFO register by programmed I/O (no DMA, no interrupts).
//!
//! A driver only implements [`Nic`]: copy the next received frame out of the controller, or
//! one frame into it. [`PioDevice`] owns one receive and one transmit buffer and hands smoltcp
//! tokens that borrow them.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest Ethernet frame either way, without its FCS: 14 header bytes and a 1500-byte
/// payload.
pub const MAX_FRAME: usize = 1514;

/// A frame buffer: [`MAX_FRAME`] rounded up to whole 32-bit FIFO words, plus room for a
/// controller's per-frame length word and FCS.
pub const FRAME_BUF: usize = 1536;

/// An Ethernet controller driven by programmed I/O.
pub trait Nic {
    /// The controller's MAC address.
    fn mac(&self) -> [u8; 6];

    /// Copies the next received frame (without FCS) to the start of `buf` and returns its
    /// length, or `None` when no frame waits. A frame that is damaged or too long is taken out
    /// of the controller and dropped.
    fn recv_frame(&mut self, buf: &mut [u8; FRAME_BUF]) -> Option<usize>;

    /// Sends `frame` (at most [`MAX_FRAME`] bytes, without FCS: the controller adds it).
    fn send_frame(&mut self, frame: &[u8]);
}

/// A [`Nic`] as a smoltcp device.
pub struct PioDevice<N> {
    nic: N,
    rx: [u8; FRAME_BUF],
    tx: [u8; FRAME_BUF],
}

impl<N: Nic> PioDevice<N> {
    /// Wraps an initialised controller.
    pub const fn new(nic: N) -> PioDevice<N> {
        PioDevice { nic, rx: [0; FRAME_BUF], tx: [0; FRAME_BUF] }
    }

    /// The controller.
    pub fn nic(&self) -> &N {
        &self.nic
    }
}

/// A received frame, borrowed from the device's receive buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for one frame to send, in the device's transmit buffer.
pub struct TxToken<'a, N> {
    nic: &'a mut N,
    buf: &'a mut [u8; FRAME_BUF],
}

impl<N: Nic> Device for PioDevice<N> {
    type RxToken<'a>
        = RxToken<'a>
    where
        N: 'a;
    type TxToken<'a>
        = TxToken<'a, N>
    where
        N: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_, N>)> {
        let len = self.nic.recv_frame(&mut self.rx)?;
        Some((RxToken { frame: &self.rx[..len] }, TxToken { nic: &mut self.nic, buf: &mut self.tx }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, N>> {
        Some(TxToken { nic: &mut self.nic, buf: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // One frame at a time either way: the controllers' FIFOs are drained on every poll.
        caps.max_burst_size = Some(1);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

impl<N: Nic> phy::TxToken for TxToken<'_, N> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // smoltcp never asks for more than the MTU; clamp rather than trust it.
        let len = len.min(MAX_FRAME);
        let result = f(&mut self.buf[..len]);
        self.nic.send_frame(&self.buf[..len]);
        result
    }
}
