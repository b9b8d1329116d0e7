# SPDX-License-Identifier: MIT
"""The PostgreSQL of the storage.pgsql integration tests.

PH_PGSQL_DSN names one when the caller has started it (scripts/check).
Otherwise, and for a test file that stops and starts its database (which
must not pull a shared one from under other tests running meanwhile), a
throwaway cluster is started for the file (setup()) and stopped at its end
(teardown())."""
import os
import shutil
import subprocess
import tempfile
import unittest

import phtest

PG_CLUSTER = os.path.join(phtest.SRC, "scripts", "pg-cluster")
dsn = os.environ.get("PH_PGSQL_DSN")
cluster_dir = None  # set when the cluster is this file's own
_own = None


def setup(own=False):
    """For setUpModule: makes sure dsn names a running database; with own,
    one of this file's own, which cluster() may stop and start."""
    global dsn, cluster_dir, _own
    if dsn and not own:
        return
    if not os.path.isdir("/usr/lib/postgresql") and shutil.which("initdb") is None:
        raise unittest.SkipTest("no PH_PGSQL_DSN and no PostgreSQL server to start")
    _own = cluster_dir = tempfile.mkdtemp(prefix="ph-pg-it-")
    p = subprocess.run([PG_CLUSTER, "start", cluster_dir], check=True, capture_output=True,
                       text=True, timeout=120)
    dsn = p.stdout.strip()


def teardown():
    """For tearDownModule: stops the cluster setup() started."""
    if _own:
        subprocess.run([PG_CLUSTER, "stop", _own], capture_output=True, timeout=120)
        shutil.rmtree(_own, ignore_errors=True)


def cluster(cmd):
    """scripts/pg-cluster start|stop on the cluster (cluster_dir set)."""
    subprocess.run([PG_CLUSTER, cmd, cluster_dir], check=True, capture_output=True, timeout=120)


def psql(sql):
    subprocess.run(["psql", dsn, "-qXv", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True, timeout=60)


def dsn_for(dbname):
    """dsn with another database name (dsn is key=value, as pg-cluster
    prints it)."""
    words = [w for w in dsn.split() if not w.startswith("dbname=")]
    return " ".join(words + ["dbname=" + dbname])
