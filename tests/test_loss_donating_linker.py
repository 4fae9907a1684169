"""The donating JAX linker: same results as mode="JAX", updated buffers donated, copies stay valid."""

import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.compilation.donating_linker import DonatingJAXLinker, donating_jax_mode


def make(mode):
    w = pytensor.shared(np.arange(12, dtype=np.float32).reshape(3, 4), name="w", shape=(3, 4))
    c = pytensor.shared(np.ones(4, np.float32), name="c", shape=(4,))  # read, never updated
    x = pt.vector("x", dtype="float32", shape=(4,))
    y = (w * x * c).sum()
    f = pytensor.function([x], [y, w.sum()], updates=[(w, w * np.float32(0.5) + x)], mode=mode)
    return f, w


def test_results_equal_plain_jax_and_only_updated_inputs_are_donated():
    f_don, w_don = make(donating_jax_mode())
    f_ref, w_ref = make("JAX")
    assert isinstance(f_don.maker.linker, DonatingJAXLinker)
    assert len(f_don.maker.linker.donated_inputs()) == 1  # w, not c and not x
    x = np.array([1, -2, 3, .5], np.float32)
    for _ in range(3):
        for a, b in zip(f_don(x), f_ref(x)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(w_don.get_value()), np.asarray(w_ref.get_value()), rtol=1e-6)


def test_the_old_buffer_is_consumed_but_copies_stay_valid():
    f, w = make(donating_jax_mode())
    x = np.ones(4, np.float32)
    f(x)  # from here on w holds a device array
    borrowed, copy = w.get_value(borrow=True), w.get_value()
    f(x)
    assert borrowed.is_deleted()
    np.testing.assert_allclose(np.asarray(copy), np.asarray(w.get_value()) * 2 - 2)  # w1 = 0.5 w0 + 1


def test_static_shape_inputs_still_work():
    n = pt.scalar("n", dtype="int64")
    acc = pytensor.shared(np.zeros(3, np.float32), name="acc", shape=(3,))
    f = pytensor.function([n], pt.zeros((n,)).sum() + acc.sum(), updates=[(acc, acc + 1)], mode=donating_jax_mode())
    assert float(f(5)) == 0 and float(f(7)) == 3
