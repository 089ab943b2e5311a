"""The systems: vector fields integrated by RK4 (Lorenz-63, Lorenz-96)."""
