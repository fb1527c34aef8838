package projector

// The fold's caches: an approximate LRU bounded in bytes.

// objCache keeps the latest JSON of recently changed objects, so that a delta is computed
// without rebuilding the previous version. It is a cache of the views (a miss rebuilds from
// them) and is cleared when a fold transaction fails. Used under DB.foldMu only.
type objCache struct{ g genCache[uint64, []byte] }

func (c *objCache) init(limit int)          { c.g.init(limit, bodySize) }
func (c *objCache) get(id uint64) []byte    { b, _ := c.g.get(id); return b }
func (c *objCache) put(id uint64, b []byte) { c.g.put(id, b) }
func (c *objCache) drop(id uint64)          { c.g.drop(id) }
func (c *objCache) reset()                  { c.g.reset() }

// bodySize is what a cached object body keeps in memory: a body read from the log shares its
// array with the message's headers (about 430 bytes per event on a real recording), and the map
// entry costs some more.
func bodySize(b []byte) int { return len(b) + 512 }

// genCache is an approximate LRU cache bounded in bytes: two generations of maps, each of up
// to half the budget; when the young one is full the old one is dropped and the young one
// ages. A hit in the old generation moves the entry to the young one. Objects changed once
// (most Events) thus leave the cache without evicting those that keep changing.
type genCache[K comparable, V any] struct {
	young, old           map[K]V
	youngBytes, oldBytes int
	half                 int
	size                 func(V) int
}

func (c *genCache[K, V]) init(limit int, size func(V) int) {
	c.young, c.old, c.youngBytes, c.oldBytes, c.half, c.size = map[K]V{}, map[K]V{}, 0, 0, limit/2, size
}

func (c *genCache[K, V]) get(k K) (V, bool) {
	if v, ok := c.young[k]; ok {
		return v, true
	}
	if v, ok := c.old[k]; ok {
		c.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

func (c *genCache[K, V]) put(k K, v V) {
	c.drop(k)
	n := c.size(v)
	if c.youngBytes+n > c.half {
		c.old, c.oldBytes = c.young, c.youngBytes
		c.young, c.youngBytes = map[K]V{}, 0
	}
	c.young[k] = v
	c.youngBytes += n
}

func (c *genCache[K, V]) drop(k K) {
	if v, ok := c.young[k]; ok {
		c.youngBytes -= c.size(v)
		delete(c.young, k)
	}
	if v, ok := c.old[k]; ok {
		c.oldBytes -= c.size(v)
		delete(c.old, k)
	}
}

func (c *genCache[K, V]) reset() { c.init(2*c.half, c.size) }
