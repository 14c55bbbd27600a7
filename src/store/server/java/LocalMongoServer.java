import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;
import java.util.List;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

/**
 * Starts mongo-java-server for local runs and tests:
 * {@code java -cp ... LocalMongoServer --port N [--host H] [--file STORE.mv]}.
 * With {@code --file} the H2 MVStore backend keeps the data in that file (local runs, kept
 * across restarts); without it the memory backend holds everything until the process ends
 * (tests). SIGTERM closes the backend, which writes the store's last changes to disk. The H2
 * store commits every {@value #COMMIT_DELAY_MS} ms (H2's default is 1 s), so a server killed
 * with SIGKILL loses at most that last moment of writes.
 *
 * <p>Both backends are mongo-java-server's own with one repair: a collection's list of indexes
 * is changed and read under the same lock as its documents. In 1.47.0 only the document
 * operations hold that lock, so an index created while another connection updates the same
 * collection throws a ConcurrentModificationException inside the update, which the client sees
 * as {@code Unknown error: null} (two workers starting at once both create their indexes).
 * MongoDB has no such failure; {@code test/integration/database-semantics.test.ts} checks it.
 */
public final class LocalMongoServer {
    private static final int COMMIT_DELAY_MS = 100;

    private LocalMongoServer() {
    }

    public static void main(String[] args) {
        String host = "127.0.0.1";
        int port = -1;
        String file = null;
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (i + 1 >= args.length) usage("missing value after " + flag);
            String value = args[++i];
            switch (flag) {
                case "--host" -> host = value;
                case "--port" -> port = parsePort(value);
                case "--file" -> file = value;
                default -> usage("unknown option " + flag);
            }
        }
        if (port < 0) usage("--port is required");

        MongoBackend backend = file == null ? memoryBackend() : h2Backend(file);
        MongoServer server = new MongoServer(backend);
        server.bind(host, port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "shutdown"));
        System.out.println("mongo-java-server listening on " + host + ":" + port + " with "
            + (file == null ? "the memory backend" : "the H2 backend in " + file));
    }

    private static MongoBackend memoryBackend() {
        return new MemoryBackend() {
            @Override
            public MemoryDatabase openOrCreateDatabase(String databaseName) {
                return new MemoryDatabase(databaseName, getCursorRegistry()) {
                    @Override
                    protected MemoryCollection openOrCreateCollection(String name, CollectionOptions options) {
                        return new LockedMemoryCollection(this, name, options, cursorRegistry);
                    }
                };
            }
        };
    }

    private static MongoBackend h2Backend(String file) {
        MVStore store = MVStore.open(file);
        store.setAutoCommitDelay(COMMIT_DELAY_MS);
        return new H2Backend(store) {
            @Override
            protected MongoDatabase openOrCreateDatabase(String databaseName) {
                return new H2Database(databaseName, store, getCursorRegistry()) {
                    @Override
                    protected MongoCollection<Object> openOrCreateCollection(String name, CollectionOptions options) {
                        // The map names H2Database.openOrCreateCollection uses (its prefixes are not public).
                        String namespace = getFullCollectionNamespace(name);
                        MVMap<Object, Document> data = store.openMap("databases." + namespace);
                        MVMap<String, Object> meta = store.openMap("meta." + namespace);
                        return new LockedH2Collection(this, name, options, data, meta, cursorRegistry);
                    }
                };
            }
        };
    }

    /** A memory-backend collection whose indexes are changed and read under its lock. */
    private static final class LockedMemoryCollection extends MemoryCollection {
        LockedMemoryCollection(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors) {
            super(database, name, options, cursors);
        }

        @Override
        public synchronized void addIndex(Index<Integer> index) {
            super.addIndex(index);
        }

        @Override
        public synchronized void dropIndex(String indexName) {
            super.dropIndex(indexName);
        }

        @Override
        public synchronized List<Index<Integer>> getIndexes() {
            return List.copyOf(super.getIndexes());
        }

        @Override
        public synchronized Document getStats() {
            return super.getStats();
        }

        @Override
        public synchronized Document validate() {
            return super.validate();
        }
    }

    /** An H2-backend collection whose indexes are changed and read under its lock. */
    private static final class LockedH2Collection extends H2Collection {
        LockedH2Collection(MongoDatabase database, String name, CollectionOptions options,
                           MVMap<Object, Document> data, MVMap<String, Object> meta, CursorRegistry cursors) {
            super(database, name, options, data, meta, cursors);
        }

        @Override
        public synchronized void addIndex(Index<Object> index) {
            super.addIndex(index);
        }

        @Override
        public synchronized void dropIndex(String indexName) {
            super.dropIndex(indexName);
        }

        @Override
        public synchronized List<Index<Object>> getIndexes() {
            return List.copyOf(super.getIndexes());
        }

        @Override
        public synchronized Document getStats() {
            return super.getStats();
        }

        @Override
        public synchronized Document validate() {
            return super.validate();
        }
    }

    private static int parsePort(String value) {
        try {
            int port = Integer.parseInt(value);
            if (port >= 0 && port <= 65535) return port;
        } catch (NumberFormatException e) {
            // reported below
        }
        usage("--port takes an integer from 0 to 65535, not " + value);
        return -1;
    }

    private static void usage(String problem) {
        System.err.println("LocalMongoServer: " + problem);
        System.err.println("usage: LocalMongoServer --port N [--host H] [--file STORE.mv]");
        System.exit(2);
    }
}
