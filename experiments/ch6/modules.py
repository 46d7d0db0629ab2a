"""What chapter 6's experiments share: d2l's builders'-guide networks as jaxdl layer values, and the helpers
that load PyTorch's stored parameters into them.

No classes hold arrays here: a network is a `jaxdl.nn.Layer` (a pair of pure functions) and its parameters a
pytree whose key paths are PyTorch's module paths, so `jaxdl.state_dict` names them as torch does.

`composite` is the one combinator this chapter adds: a layer made of named children and a forward function
that calls them by name (d2l's `nn.Module` subclasses with attributes and a `forward`). A child called twice
uses the same parameters (FixedHiddenMLP's reused `linear`, 6.2's tied layer). It is a candidate for
`jaxdl.nn` (see the chapter's report); until then it lives here.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxdl import nn
from jaxdl import state_dict as sd

Shape = tuple[int, ...]
Call = Callable[[str, jax.Array], jax.Array]


# ----------------------------------------------------------------------------- a module of named children


def composite(name: str, children: Mapping[str, nn.Layer], forward: Callable[[Call, jax.Array], jax.Array]) -> nn.Layer:
    """A layer of named children and a forward that calls them, ``forward(call, X)`` with ``call(child, X)``.

    Each child's input shape is found by tracing forward with `jax.eval_shape` on the first input's shape
    (no arithmetic), then each child is initialised for it, in the order of `children` (torch's attribute
    order, which is also its `state_dict` order). A child called several times shares its parameters.

    Args:
        name: the layer's name (in error messages).
        children: child name -> layer; the params are a dict with these keys, in this order.
        forward: the forward pass in terms of `call`.

    Returns:
        A stateless, non-stochastic layer whose params are ``{child: child's params}``.

    Raises:
        nn.ShapeError: a child cannot take the input forward hands it (naming the child), or a child is never called.
    """
    children = dict(children)
    for child, lay in children.items():
        if not isinstance(lay, nn.Layer):
            raise ValueError(f"{name}'s child {child!r} is a {type(lay).__name__}, not a jaxdl.nn.Layer")

    def input_shapes(input_shape: Shape) -> tuple[dict[str, Shape], Any]:
        """Each child's input shape at its first call, and forward's output, traced abstractly."""
        first: dict[str, Shape] = {}

        def trace(X: jax.Array) -> jax.Array:
            def call(child: str, Z: jax.Array) -> jax.Array:
                first.setdefault(child, tuple(Z.shape))
                lay = children[child]
                try:
                    _, p, s = lay.init(jax.random.key(0), tuple(Z.shape))
                    return lay.apply(p, s, Z)[0]
                except nn.ShapeError as err:
                    raise nn.ShapeError(f"{name}.{child} ({lay.name}): {err}") from None
            return forward(call, X)

        out = jax.eval_shape(trace, jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32))
        return first, out

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Any, dict[str, Any], None]:
        shapes, out = input_shapes(tuple(input_shape))
        never = [c for c in children if c not in shapes]
        if never:
            raise nn.ShapeError(f"{name}: forward never calls child {never[0]!r}, so its input shape is unknown")
        keys = jax.random.split(key, len(children)) if key is not None else [None] * len(children)
        params = {}
        for (child, lay), k in zip(children.items(), keys):
            _, params[child], child_state = lay.init(k, shapes[child])
            if child_state is not None:
                raise ValueError(f"{name}: child {child!r} keeps state, which composite does not thread")
        return jax.tree.map(lambda leaf: tuple(leaf.shape), out), params, None

    def apply(params: dict[str, Any], state: Any, X: jax.Array, *, train: bool = False, rng: Any = None):
        del rng
        call = lambda child, Z: children[child].apply(params[child], None, Z, train=train)[0]  # noqa: E731
        return forward(call, X), state

    return nn.Layer(init, apply, name, True, False)


# ----------------------------------------------------------------------------- 6.1: d2l's networks


def mlp_sequential() -> nn.Layer:
    """nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)), PyTorch's default initialisation."""
    return nn.serial(nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None))


def mlp_module(hidden: str = "hidden", out: str = "out") -> nn.Layer:
    """d2l's MLP class: self.hidden = LazyLinear(256), self.out = LazyLinear(10), forward out(relu(hidden(X)))
    (6.6 names its output layer "output": pass out="output")."""
    return composite("MLP", {hidden: nn.linear(256, sigma=None), out: nn.linear(10, sigma=None)},
                     lambda call, X: call(out, jax.nn.relu(call(hidden, X))))


def my_sequential(*layers: nn.Layer) -> nn.Layer:
    """d2l's MySequential written out: the children one after the other, params a tuple indexed as
    add_module(str(idx)) names them. A loop over the layers, no more (nn.serial does the same)."""
    layers = tuple(layers)

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Shape, tuple, None]:
        shape, params = tuple(input_shape), []
        for lay, k in zip(layers, jax.random.split(key, len(layers))):
            shape, p, _ = lay.init(k, shape)
            params.append(p)
        return shape, tuple(params), None

    def apply(params: tuple, state: Any, X: jax.Array, *, train: bool = False, rng: Any = None):
        for lay, p in zip(layers, params):
            X = lay.apply(p, None, X, train=train)[0]
        return X, state

    return nn.Layer(init, apply, "MySequential", True, False)


def halvings(X: jax.Array) -> jax.Array:
    """How often d2l's ``while X.abs().sum() > 1: X /= 2`` halves X: a `lax.while_loop`, so it runs under jit
    (a Python while on a traced value cannot). The loop sees X through stop_gradient: it only counts."""

    def cond(carry: tuple[jax.Array, jax.Array]) -> jax.Array:
        Z, _ = carry
        return jnp.abs(Z).sum() > 1

    def body(carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        Z, k = carry
        return Z / 2, k + 1

    return lax.while_loop(cond, body, (lax.stop_gradient(X), jnp.zeros((), jnp.int32)))[1]


def halve_until_small(X: jax.Array) -> jax.Array:
    """X / 2^k with k = halvings(X): bit for bit the loop's result (halving a float32 is exact unless it
    underflows), and differentiable (reverse mode cannot go through a while_loop; through this it gives 2^-k)."""
    return X / (2.0 ** halvings(X)).astype(X.dtype)


def fixed_hidden_mlp(rand_weight: Any, stop: bool = True) -> nn.Layer:
    """d2l's FixedHiddenMLP: linear, relu(X @ rand_weight + 1), the same linear again, halve until
    |X|.sum() <= 1, sum. rand_weight is a constant kept outside the params (torch keeps it as a plain
    attribute, out of state_dict); stop=True passes it through stop_gradient, so no gradient reaches it even
    when it is a traced value (stop=False shows the gradient it would get)."""
    const = jnp.asarray(rand_weight, jnp.float32)

    def forward(call: Call, X: jax.Array) -> jax.Array:
        W = lax.stop_gradient(const) if stop else const
        X = call("linear", X)
        X = jax.nn.relu(X @ W + 1)
        X = call("linear", X)
        return halve_until_small(X).sum()

    return composite("FixedHiddenMLP", {"linear": nn.linear(20, sigma=None)}, forward)


def nest_mlp() -> nn.Layer:
    """d2l's NestMLP: self.net = Sequential(Lazy(64), ReLU, Lazy(32), ReLU), self.linear = Lazy(16)."""
    net = nn.serial(nn.linear(64, sigma=None), nn.relu(), nn.linear(32, sigma=None), nn.relu())
    return composite("NestMLP", {"net": net, "linear": nn.linear(16, sigma=None)},
                     lambda call, X: call("linear", call("net", X)))


def chimera(rand_weight: Any) -> nn.Layer:
    """nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())."""
    return nn.serial(nest_mlp(), nn.linear(20, sigma=None), fixed_hidden_mlp(rand_weight))


def parallel(net1: nn.Layer, net2: nn.Layer, axis: int = -1) -> nn.Layer:
    """6.1 exercise 2: both networks on the same input, outputs concatenated (params {"net1", "net2"}, as a
    torch module with attributes net1 and net2)."""
    return composite("Parallel", {"net1": net1, "net2": net2},
                     lambda call, X: jnp.concatenate([call("net1", X), call("net2", X)], axis=axis))


def factory(make: Callable[[], nn.Layer], n: int) -> nn.Layer:
    """6.1 exercise 3: n instances of make() one after the other (nn.Sequential(*[make() for _ in range(n)])):
    each its own parameters, drawn from its own key."""
    if n < 1:
        raise ValueError(f"factory needs at least one instance, got n={n}")
    return nn.serial(*(make() for _ in range(n)))


def block() -> nn.Layer:
    """The block the 6.1 factory repeats: Sequential(LazyLinear(16), ReLU)."""
    return nn.serial(nn.linear(16, sigma=None), nn.relu())


# ----------------------------------------------------------------------------- 6.2: a tied layer


def tied_mlp(hidden: int = 8) -> nn.Layer:
    """d2l 6.2's Sequential(Lazy(8), ReLU, shared, ReLU, shared, ReLU, Lazy(1)) with `shared` at positions 2
    and 4: one parameter subtree used twice. Its params hold the entries torch's named_parameters() lists,
    "0", "2" and "6" (torch lists the shared layer once, under its first name)."""

    def forward(call: Call, X: jax.Array) -> jax.Array:
        X = jax.nn.relu(call("0", X))
        X = jax.nn.relu(call("2", X))
        X = jax.nn.relu(call("2", X))  # position 4: the same parameters again
        return call("6", X)

    return composite("TiedMLP", {"0": nn.linear(hidden, sigma=None), "2": nn.linear(hidden, sigma=None),
                                 "6": nn.linear(1, sigma=None)}, forward)


def untied_mlp(hidden: int = 8) -> nn.Layer:
    """The same network with positions 2 and 4 separate layers (params "2" and "4"): feeding both the tied
    layer's parameters gives its output, and the tied gradient is the sum of theirs."""

    def forward(call: Call, X: jax.Array) -> jax.Array:
        X = jax.nn.relu(call("0", X))
        X = jax.nn.relu(call("2", X))
        X = jax.nn.relu(call("4", X))
        return call("6", X)

    return composite("UntiedMLP", {"0": nn.linear(hidden, sigma=None), "2": nn.linear(hidden, sigma=None),
                                   "4": nn.linear(hidden, sigma=None), "6": nn.linear(1, sigma=None)}, forward)


# ----------------------------------------------------------------------------- 6.5: custom layers


def centered() -> nn.Layer:
    """d2l's CenteredLayer: X - X.mean(), no parameters."""
    return nn.function(lambda X: X - X.mean(), "CenteredLayer")


def my_linear(in_units: int, units: int, detach: bool = False) -> nn.Layer:
    """d2l's MyLinear: relu(X @ weight + bias), weight (in_units, units) and bias (units,) ~ N(0, 1).

    Its params are {"W", "b"} (so state_dict names them weight and bias) in MyLinear's (in, out) layout, not
    nn.Linear's. detach=True is d2l's code exactly: it multiplies by ``self.weight.data``, which autograd does
    not follow, so no gradient reaches the parameters (here: stop_gradient).

    Raises (at init):
        nn.ShapeError: the input's last axis is not in_units (MyLinear is not lazy).
    """

    def init_params(key: jax.Array, input_shape: Shape) -> tuple[dict[str, jax.Array], None]:
        if input_shape[-1] != in_units:
            raise nn.ShapeError(f"MyLinear({in_units}, {units}) takes {in_units} inputs, got inputs of shape "
                                f"{input_shape}")
        kW, kb = jax.random.split(key)
        return {"W": jax.random.normal(kW, (in_units, units)), "b": jax.random.normal(kb, (units,))}, None

    def apply(params: dict[str, jax.Array], state: Any, X: jax.Array, *, train: bool = False, rng: Any = None):
        W, b = params["W"], params["b"]
        if detach:
            W, b = lax.stop_gradient(W), lax.stop_gradient(b)
        if X.shape[-1] != W.shape[0]:
            raise nn.ShapeError(f"MyLinear({W.shape[0]}, {W.shape[1]}) got inputs of shape {tuple(X.shape)}")
        return jax.nn.relu(X @ W + b), state

    return nn.layer(f"MyLinear({in_units}, {units})", init_params, apply)


def tensor_reduction(units: int, sigma: float = 0.1) -> nn.Layer:
    """6.5 exercise 1: y_k = sum_{i,j} W_{ijk} x_i x_j for each row x, W (inputs, inputs, units) ~ N(0, sigma^2)."""

    def init_params(key: jax.Array, input_shape: Shape) -> tuple[dict[str, jax.Array], None]:
        d = input_shape[-1]
        return {"W": sigma * jax.random.normal(key, (d, d, units))}, None

    def apply(params: dict[str, jax.Array], state: Any, X: jax.Array, *, train: bool = False, rng: Any = None):
        return jnp.einsum("ijk,ni,nj->nk", params["W"], X, X), state

    return nn.layer(f"TensorReduction({units})", init_params, apply)


def leading_fourier(X: jax.Array) -> jax.Array:
    """6.5 exercise 2: the first half (n // 2) of the discrete Fourier coefficients of each row, complex."""
    n = X.shape[-1]
    return jnp.fft.fft(X, axis=-1)[..., : n // 2]


def fourier_layer() -> nn.Layer:
    """leading_fourier as a layer without parameters (its output is complex)."""
    return nn.function(leading_fourier, "LeadingFourier")


# ----------------------------------------------------------------------------- PyTorch's stored parameters


def torch_state(stored: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A state_dict stored by a generator (name -> nested lists) as float32 NumPy arrays."""
    return {name: np.asarray(values, np.float32) for name, values in stored.items()}


def in_torch_order(record: Mapping[str, Any]) -> dict[str, Any]:
    """A generator's record's state_dict in torch's order (the JSON file sorts keys; the names list keeps it)."""
    return {name: record["state_dict"][name] for name in record["state_dict_names"]}


def load_torch(model: nn.Layer, input_shape: Shape, stored: Mapping[str, Any]) -> Any:
    """The model's params holding a stored PyTorch state_dict, through jaxdl.state_dict.load_state_dict
    (names, shapes and dtypes checked against the model's, traced with eval_shape).

    Raises:
        jaxdl.state_dict.StateDictError: naming the first entry that does not fit.
    """
    like, like_state = sd.shapes(model, input_shape)
    params, _ = sd.load_state_dict(torch_state(stored), like, like_state, source="PyTorch's stored state_dict")
    return params


def torch_name(path: tuple) -> str:
    """A jax key path as torch names the leaf: (SequenceKey(2), DictKey('W')) -> "2.weight"."""
    parts = [str(getattr(key, "idx", getattr(key, "key", key))) for key in path]
    if parts:
        parts[-1] = sd.TORCH_NAMES.get(parts[-1], parts[-1])
    return ".".join(parts)


def initialise(params: Any, key: jax.Array, rule: Callable[[str], Any]) -> Any:
    """d2l's ``net.apply(init_fn)`` as a function: each leaf whose torch name `rule` maps to an initialiser
    (jax.nn.initializers' signature) is drawn anew, from its own key (fold_in of its position); a leaf for
    which rule gives None is kept. ``rule = lambda name: init if name.startswith("0.") else None`` reaches
    layer 0 only, as ``net[0].apply``.

    Returns:
        A new params tree of the same structure (the old one is unchanged).
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    new = []
    for i, (path, leaf) in enumerate(flat):
        init = rule(torch_name(path))
        new.append(leaf if init is None else init(jax.random.fold_in(key, i), jnp.shape(leaf), jnp.result_type(leaf)))
    return jax.tree_util.tree_unflatten(treedef, new)


def my_init(key: jax.Array, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
    """d2l's my_init: U(-10, 10), then entries with |w| < 5 set to 0 (jax.nn.initializers' signature)."""
    w = jax.random.uniform(key, shape, dtype, minval=-10.0, maxval=10.0)
    return w * (jnp.abs(w) >= 5)


def shapes_of(params: Any) -> list[tuple[str, list[int]]]:
    """[(torch name, shape)] of params, in named_parameters() order."""
    return [(name, list(np.shape(leaf))) for name, leaf in sd.named_parameters(params)]


# ----------------------------------------------------------------------------- 6.4: sizes given or varying


def sized(lay: nn.Layer, in_features: int) -> nn.Layer:
    """A layer told its input size, as nn.Linear(in_features, ...) is: init refuses inputs of another size
    (naming the layer and both sizes) instead of inferring."""

    def init(key: jax.Array | None, input_shape: Shape):
        if not input_shape or input_shape[-1] != in_features:
            raise nn.ShapeError(f"{lay.name} was given {in_features} input features but got inputs of shape "
                                f"{tuple(input_shape)}")
        return lay.init(key, input_shape)

    return lay._replace(init=init)


def shared_feature_net(hidden: int = 16, outputs: int = 10) -> nn.Layer:
    """6.4 exercise 3: a net for inputs with any number of features, by tying: each feature x_i goes through the
    same small layer relu(x_i w + c) (w, c of size hidden), the results are averaged over the features, then a
    Linear(outputs). Its parameters do not depend on the number of features."""

    def init_params(key: jax.Array, input_shape: Shape):
        kw, kc = jax.random.split(key)
        return {"w": jax.random.normal(kw, (hidden,)), "c": jax.random.normal(kc, (hidden,))}, None

    def apply(params: dict, state: Any, X: jax.Array, *, train: bool = False, rng: Any = None):
        H = jax.nn.relu(X[..., None] * params["w"] + params["c"])  # (n, features, hidden)
        return H.mean(axis=-2), state

    pool = nn.layer("SharedFeatures", init_params, apply)
    return nn.serial(pool, nn.linear(outputs, sigma=None))
