"""The product catalogue behind the seed-compatible ``POST /portions/``, in SQLAlchemy 2.

One table, ``products`` (``id`` integer primary key, ``name`` up to 100 characters), in any
database SQLAlchemy reaches: a SQLite file by default (:data:`DEFAULT_DATABASE`, in the
directory the server starts in), or the URL given to ``fairalloc serve --database`` or in the
``FAIRALLOC_DATABASE_URL`` environment variable. The table is created when missing.

Examples
--------
>>> cat = Catalogue("sqlite://")
>>> cat.create("Soup", 1)
{'id': 1, 'name': 'Soup'}
>>> cat.names([1])
{1: 'Soup'}
>>> cat.names([1, 5, 7])
Traceback (most recent call last):
...
fairalloc.service.catalogue.ProductNotFoundError: no product with these ids: 5, 7 (2 in all)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from fairalloc.service.settings import DATABASE_ENV, DEFAULT_DATABASE
from fairalloc.transforms.errors import DuplicateKeyError, UnknownKeyError

#: The longest product name.
NAME_LENGTH = 100


class ProductNotFoundError(UnknownKeyError):
    """Ids with no product in the catalogue (HTTP 404)."""

    http_status = 404


class ProductExistsError(DuplicateKeyError):
    """A product with this id already exists (HTTP 409)."""

    http_status = 409


class _Base(DeclarativeBase):
    pass


class Product(_Base):
    """A product: integer id, name up to 100 characters."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)

    def to_dict(self) -> dict[str, Any]:
        """The product as JSON.

        Returns
        -------
        dict
            ``{"id": …, "name": …}``.
        """
        return {"id": self.id, "name": self.name}


def database_url(url: str | None = None) -> str:
    """The catalogue's database: ``url``, else ``$FAIRALLOC_DATABASE_URL``, else the SQLite file
    ``fairalloc.db`` in the current directory (as an absolute path).

    Parameters
    ----------
    url : str, optional
        A SQLAlchemy URL.

    Returns
    -------
    str
        The URL to connect to.

    Examples
    --------
    >>> database_url("sqlite:////srv/portions.db")
    'sqlite:////srv/portions.db'
    >>> database_url(None).endswith("/fairalloc.db") or bool(os.environ.get(DATABASE_ENV))
    True
    """
    if url:
        return url
    from_env = os.environ.get(DATABASE_ENV)
    if from_env:
        return from_env
    return f"sqlite:///{Path(DEFAULT_DATABASE).resolve()}"


def _engine(url: str) -> Engine:
    """An engine; SQLite connections are shared across the server's threads and wait for locks."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")  # one shared in-memory database
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **({"poolclass": StaticPool} if memory else {}))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Catalogue:
    """The products, in a database.

    Parameters
    ----------
    url : str, optional
        A SQLAlchemy URL (default: see :func:`database_url`).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        self.engine = _engine(self.url)
        _Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session.

        Returns
        -------
        sqlalchemy.orm.Session
            The session (use it as a context manager).
        """
        return self._session()

    def products(self) -> list[dict[str, Any]]:
        """Every product, by id.

        Returns
        -------
        list of dict
            ``{"id": …, "name": …}`` per product.
        """
        with self.session() as s:
            return [p.to_dict() for p in s.scalars(select(Product).order_by(Product.id))]

    def get(self, product_id: int) -> dict[str, Any]:
        """One product.

        Parameters
        ----------
        product_id : int
            Its id.

        Returns
        -------
        dict
            ``{"id": …, "name": …}``.

        Raises
        ------
        ProductNotFoundError
            There is no product with that id.
        """
        with self.session() as s:
            product = _existing(s, product_id)
            return product.to_dict()

    def create(self, name: str, product_id: int | None = None) -> dict[str, Any]:
        """Add a product.

        Parameters
        ----------
        name : str
            Its name (up to 100 characters).
        product_id : int, optional
            Its id (the database picks one when none is given).

        Returns
        -------
        dict
            The stored product, ``{"id": …, "name": …}``.
        """
        with self.session() as s:
            product = Product(id=product_id, name=name)
            s.add(product)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise ProductExistsError("a product with this id exists", [product_id]) from None
            return product.to_dict()

    def rename(self, product_id: int, name: str) -> dict[str, Any]:
        """Change a product's name.

        Parameters
        ----------
        product_id : int
            Its id.
        name : str
            The new name.

        Returns
        -------
        dict
            The stored product.

        Raises
        ------
        ProductNotFoundError
            There is no product with that id.
        """
        with self.session() as s:
            product = _existing(s, product_id)
            product.name = name
            s.commit()
            return product.to_dict()

    def delete(self, product_id: int) -> None:
        """Remove a product.

        Parameters
        ----------
        product_id : int
            Its id.

        Raises
        ------
        ProductNotFoundError
            There is no product with that id.
        """
        with self.session() as s:
            product = _existing(s, product_id)
            s.delete(product)
            s.commit()

    def names(self, ids: list[int]) -> dict[int, str]:
        """The names of some products.

        Parameters
        ----------
        ids : list of int
            Product ids.

        Returns
        -------
        dict
            ``{id: name}``.

        Raises
        ------
        ProductNotFoundError
            Naming every id with no product.
        """
        with self.session() as s:
            found = dict(s.execute(select(Product.id, Product.name)
                                   .where(Product.id.in_(ids))).all())
        missing = sorted(set(ids) - set(found))
        if missing:
            raise ProductNotFoundError("no product with these ids", missing)
        return found


def _existing(session: Session, product_id: int) -> Product:
    """The product ``product_id``; :class:`ProductNotFoundError` when there is none."""
    product = session.get(Product, product_id)
    if product is None:
        raise ProductNotFoundError("no product with this id", [product_id])
    return product
