"""fate.crypto: the engine's homomorphic-encryption core (Paillier on gmpy2).

Importing it has no side effects: a process that sends or receives ciphertexts
calls fate.crypto.codec.register_ciphertexts() once at start.
"""
