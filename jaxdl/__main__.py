"""`python -m jaxdl`: makes sure Fashion-MNIST is present and valid, downloading it if needed."""

from jaxdl import fashion_mnist

arrays = fashion_mnist.load_arrays()
print(f"Fashion-MNIST ok in {fashion_mnist.locate()}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
