# BrainPy's own E/I example (FullProjAlignPostMg docstring), timed on this machine.
import time, sys
import brainpy as bp, brainpy.math as bm
import numpy as np
bm.set_platform("cpu")
comm_kind = sys.argv[1]
class EINet(bp.DynSysGroup):
    def __init__(self):
        super().__init__()
        ne, ni = 3200, 800
        self.E = bp.dyn.LifRef(ne, V_rest=-60., V_th=-50., V_reset=-60., tau=20., tau_ref=5., V_initializer=bp.init.Normal(-55., 2.))
        self.I = bp.dyn.LifRef(ni, V_rest=-60., V_th=-50., V_reset=-60., tau=20., tau_ref=5., V_initializer=bp.init.Normal(-55., 2.))
        def comm(a, b, w):
            if comm_kind == "jit":
                return bp.dnn.EventJitFPHomoLinear(a, b, prob=0.02, weight=w)
            return bp.dnn.EventCSRLinear(bp.conn.FixedProb(0.02, pre=a, post=b), w)
        self.E2E = bp.dyn.FullProjAlignPostMg(pre=self.E, delay=0.1, comm=comm(ne, ne, 0.6), syn=bp.dyn.Expon.desc(size=ne, tau=5.), out=bp.dyn.COBA.desc(E=0.), post=self.E)
        self.E2I = bp.dyn.FullProjAlignPostMg(pre=self.E, delay=0.1, comm=comm(ne, ni, 0.6), syn=bp.dyn.Expon.desc(size=ni, tau=5.), out=bp.dyn.COBA.desc(E=0.), post=self.I)
        self.I2E = bp.dyn.FullProjAlignPostMg(pre=self.I, delay=0.1, comm=comm(ni, ne, 6.7), syn=bp.dyn.Expon.desc(size=ne, tau=10.), out=bp.dyn.COBA.desc(E=-80.), post=self.E)
        self.I2I = bp.dyn.FullProjAlignPostMg(pre=self.I, delay=0.1, comm=comm(ni, ni, 6.7), syn=bp.dyn.Expon.desc(size=ni, tau=10.), out=bp.dyn.COBA.desc(E=-80.), post=self.I)
    def update(self, inp):
        self.E2E(); self.E2I(); self.I2E(); self.I2I(); self.E(inp); self.I(inp)
        return self.E.spike.value.sum()
model = EINet()
run = bm.jit(lambda idx: bm.for_loop(lambda i: model.step_run(i, 20.), idx))
idx = bm.arange(10000)
np.asarray(run(idx[:1000]))
t = time.perf_counter(); n = np.asarray(run(idx)); el = time.perf_counter() - t
print(comm_kind, f"{el/10000*1e6:.1f} us/step; {el/1.0:.2f} s per simulated second (dt 0.1 ms); E rate {n.sum()/3200:.1f} Hz")
