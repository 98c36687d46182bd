"""torch building blocks of sklens; they know nothing of scikit-learn."""
