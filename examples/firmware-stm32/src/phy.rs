//! The NUCLEO-F429ZI's PHY, a LAN8742A at MDIO address 0: embassy-stm32's generic PHY, made to
//! advertise only 100BASE-TX full duplex, with the link's changes logged.
//!
//! Why only 100 Mbit/s full duplex: embassy-stm32's Ethernet driver starts the MAC at that speed
//! and duplex and never changes it, so a link negotiated at 10 Mbit/s or at half duplex would
//! come up but carry nothing. Advertising the one mode the MAC runs makes auto-negotiation
//! agree on it or bring no link up (every 100 Mbit/s or gigabit port has it). A link partner
//! without auto-negotiation at 100 Mbit/s is taken at half duplex (parallel detection): that
//! link is logged with a warning.

use core::task::Context;

use embassy_stm32::eth::{GenericPhy, Phy, Sma, StationManagement};
use embassy_stm32::peripherals::ETH_SMA;

/// The LAN8742A's address on the MDIO bus on NUCLEO-144 boards.
const PHY_ADDRESS: u8 = 0;
/// The auto-negotiation advertisement register (IEEE 802.3 clause 22, register 4).
const REG_ADVERTISEMENT: u8 = 4;
/// Its value: 100BASE-TX full duplex (bit 8), selector field IEEE 802.3 (0b00001).
const ADVERTISE_100_FULL_DUPLEX: u16 = 1 << 8 | 0b00001;
/// The LAN8742A's special control/status register (31): bits 4..2 tell the speed and duplex
/// in use.
const REG_SPECIAL_STATUS: u8 = 31;
/// Its speed indication bits.
const SPEED_INDICATION: u16 = 0b111 << 2;
/// The speed indication for 100BASE-TX full duplex.
const SPEED_100_FULL_DUPLEX: u16 = 0b110 << 2;

/// The PHY, as the Ethernet driver takes it.
pub struct Lan8742a {
    phy: GenericPhy<Sma<'static, ETH_SMA>>,
    /// The link state last seen, to log changes only.
    link_up: bool,
}

impl Lan8742a {
    /// The PHY behind `sma` (the MAC's MDIO interface), at [`PHY_ADDRESS`].
    pub fn new(sma: Sma<'static, ETH_SMA>) -> Lan8742a {
        Lan8742a { phy: GenericPhy::new(sma, PHY_ADDRESS), link_up: false }
    }
}

impl Phy for Lan8742a {
    fn phy_reset(&mut self) {
        self.phy.phy_reset();
    }

    fn phy_init(&mut self) {
        // Before `phy_init`, which turns auto-negotiation on and restarts it with this.
        let sma = self.phy.station_management();
        sma.smi_write(PHY_ADDRESS, REG_ADVERTISEMENT, ADVERTISE_100_FULL_DUPLEX);
        self.phy.phy_init();
    }

    fn poll_link(&mut self, cx: &mut Context) -> bool {
        let up = self.phy.poll_link(cx);
        if up != self.link_up {
            self.link_up = up;
            if !up {
                defmt::warn!("Ethernet link down");
            } else {
                let status = self.phy.station_management().smi_read(PHY_ADDRESS, REG_SPECIAL_STATUS);
                if status & SPEED_INDICATION == SPEED_100_FULL_DUPLEX {
                    defmt::info!("Ethernet link up: 100 Mbit/s full duplex");
                } else {
                    defmt::warn!(
                        "Ethernet link up, but not at 100 Mbit/s full duplex (speed indication {=u16:03b}): the MAC runs at that only",
                        (status & SPEED_INDICATION) >> 2
                    );
                }
            }
        }
        up
    }
}
