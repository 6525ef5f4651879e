package console

import "github.com/gin-gonic/gin"

func (h *Handler) userRoutes(s *gin.RouterGroup) {}
