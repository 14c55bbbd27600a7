import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import org.h2.mvstore.MVStore;

/**
 * Starts mongo-java-server for local runs and tests:
 * {@code java -cp ... LocalMongoServer --port N [--host H] [--file STORE.mv]}.
 * With {@code --file} the H2 MVStore backend keeps the data in that file (local runs, kept
 * across restarts); without it the memory backend holds everything until the process ends
 * (tests). SIGTERM closes the backend, which writes the store's last changes to disk. The H2
 * store commits every {@value #COMMIT_DELAY_MS} ms (H2's default is 1 s), so a server killed
 * with SIGKILL loses at most that last moment of writes.
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

        MongoBackend backend = file == null ? new MemoryBackend() : h2Backend(file);
        MongoServer server = new MongoServer(backend);
        server.bind(host, port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "shutdown"));
        System.out.println("mongo-java-server listening on " + host + ":" + port + " with "
            + (file == null ? "the memory backend" : "the H2 backend in " + file));
    }

    private static MongoBackend h2Backend(String file) {
        MVStore store = MVStore.open(file);
        store.setAutoCommitDelay(COMMIT_DELAY_MS);
        return new H2Backend(store);
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
