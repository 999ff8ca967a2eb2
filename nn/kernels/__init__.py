"""The two backends: `nn.kernels.numpy` (the math in plain NumPy) and `nn.kernels.numba`
(the same functions compiled, plus fused calls).

Both modules define the same functions with the same arguments and results:

==========================  ==============================================================
``spmm``                    ``Z = X @ W + b`` for a CSR ``X``
``spmm_t``                  ``dW = X.T @ delta``, dense
``spmm_t_rows``             the rows of ``X.T @ delta`` that can be nonzero
``sampled_product``         the entries of ``A @ B.T`` at X's nonzeros (dL/dx of X's features)
``gather_rows``             rows of a CSR matrix (a shuffled mini-batch)
``multi_hot_csr``           multi-hot CSR rows from token sequences
``csr_sort_rows``           each CSR row sorted by column
``csr_renumber_columns``    columns renamed (or dropped), rows sorted again
``hashed_ngrams_csr``       multi-hot rows of hashed n-grams
``ngram_hash``              the hash of one n-gram
``fused``                   the numba backend's fused calls; None in the NumPy backend
==========================  ==============================================================

Nothing is imported here: `nn.backend` loads the backend in use, so importing `nn` with
``NN_BACKEND=numpy`` never imports numba.
"""
