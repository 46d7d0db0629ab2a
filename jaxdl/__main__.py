"""`python -m jaxdl`: makes sure Fashion-MNIST and d2l 5.7's Kaggle house CSVs are present and valid,
downloading them if needed."""

from jaxdl.datasets import fashion_mnist, kaggle_house

arrays = fashion_mnist.load_arrays()
print(f"Fashion-MNIST ok in {fashion_mnist.locate()}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
train, test = kaggle_house.load()
print(f"Kaggle house prices ok in {kaggle_house.locate()}: train {train.shape}, test {test.shape}")
