package api

import (
	"io/fs"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/hookflash/hookflash/web"
)

// mountConsole serves the operator console at / and the JS SDK at /sdk/.
func (s *Server) mountConsole() {
	console, _ := fs.Sub(web.Files, "console")
	sdk, _ := fs.Sub(web.Files, "sdk")
	s.app.Use("/console", filesystem.New(filesystem.Config{Root: http.FS(console), MaxAge: 60}))
	s.app.Use("/sdk", filesystem.New(filesystem.Config{Root: http.FS(sdk), MaxAge: 60}))
	s.app.Get("/", func(c *fiber.Ctx) error {
		b, err := fs.ReadFile(web.Files, "console/index.html")
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'")
		return c.Send(b)
	})
}
