# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors of the albatross protocol library (PRIVATE to the collection)."""

from __future__ import annotations


class AlbatrossError(Exception):
    """Base class of every error this library raises on purpose."""


class ValidationError(AlbatrossError, ValueError):
    """Input rejected before anything was sent (names, policies, manifests, sizes)."""


class ProtocolError(AlbatrossError):
    """Bytes that do not decode as the albatross wire grammar, or an unexpected reply."""


class AlbatrossConnectionError(AlbatrossError):
    """TCP connection could not be made or broke."""


class AuthenticationError(AlbatrossError):
    """TLS handshake failed, or the server closed the session without a reply.

    Albatross closes silently when it rejects the client chain or the command in the
    leaf certificate; the message says what to check.
    """


class AlbatrossTimeout(AlbatrossError):
    """Connect or read took longer than the configured timeout."""


class CommandFailed(AlbatrossError):
    """The server answered with a failure; ``message`` is its exact text."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name


class CertificateError(AlbatrossError, ValueError):
    """Credentials that cannot be loaded or used (bad PEM, wrong passphrase, key mismatch)."""


class OptionError(ValidationError):
    """A connection option that cannot be used, worded as one complete sentence for the user.

    The message names the option, its value (a file path, never key material) and the fix,
    so callers print it as it is instead of prefixing the operation.
    """
